"""Job and cluster phases as the service names them, and what each means to a batch."""

from __future__ import annotations

from enum import StrEnum


class JobPhase(StrEnum):
    """Phases of a CCE job (``GET .../jobs/{job_id}``)."""

    INITIALIZING = "Initializing"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"


JOB_TERMINAL = frozenset({JobPhase.SUCCESS, JobPhase.FAILED})


class ClusterPhase(StrEnum):
    """Phases of a CCE cluster (``status.phase``), today's list including the deprecated one."""

    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"
    SCALING_UP = "ScalingUp"
    SCALING_DOWN = "ScalingDown"
    CREATING = "Creating"
    DELETING = "Deleting"
    UPGRADING = "Upgrading"
    RESIZING = "Resizing"
    ROLLING_BACK = "RollingBack"
    ROLLBACK_FAILED = "RollbackFailed"
    HIBERNATING = "Hibernating"
    HIBERNATION = "Hibernation"
    AWAKING = "Awaking"
    ERROR = "Error"
    EMPTY = "Empty"


#: The phase a finished cluster is in when everything went right.
CLUSTER_READY = frozenset({ClusterPhase.AVAILABLE})

#: Phases from which the cluster will not become ``Available`` on its own.
CLUSTER_BROKEN = frozenset(
    {
        ClusterPhase.UNAVAILABLE,
        ClusterPhase.ERROR,
        ClusterPhase.ROLLBACK_FAILED,
        ClusterPhase.DELETING,
        ClusterPhase.HIBERNATION,
        ClusterPhase.EMPTY,
    }
)


def cluster_phase_settled(phase: str | None) -> bool:
    """True when a cluster in ``phase`` needs no more watching (ready or broken).

    Every other phase, including ones this version does not know, is a transition worth
    following until the deadline.
    """
    return phase in CLUSTER_READY or phase in CLUSTER_BROKEN
