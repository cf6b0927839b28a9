"""The rules a merged create body and a manifest's projects must meet, and where errors point."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from batchcreate.errors import ManifestError, Problem
from batchcreate.manifest import build_plan, parse_document
from batchcreate.plan import BatchPlan
from batchcreate.validation import validate_clusters
from tests.conftest import BASE_DEFAULTS, manifest_dict

HEAD = "projects[0].clusters[0] (alpha-one)"


def problems_of(data: Any) -> list[str]:
    """The problems ``build_plan`` raises for ``data``, as one-line strings."""
    with pytest.raises(ManifestError) as info:
        build_plan(data)
    return [str(p) for p in info.value.problems]


def with_cluster(
    spec: dict[str, Any] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
    name: str = "alpha-one",
) -> dict[str, Any]:
    """A valid one-cluster manifest whose cluster entry adds ``spec``, ``metadata`` and ``top``."""
    data = manifest_dict({"proj-a": [name]})
    cluster = data["projects"][0]["clusters"][0]
    if spec is not None:
        cluster["spec"] = spec
    if metadata is not None:
        cluster["metadata"].update(metadata)
    cluster.update(top or {})
    return data


def body_of(plan: BatchPlan) -> dict[str, Any]:
    """The create body of a plan's only cluster."""
    (project,) = plan.projects
    (cluster,) = project.clusters
    return cluster.body


# ---- Required fields and fixed values ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("metadata", "name"), "projects[0].clusters[0]: metadata.name: field required"),
        (("metadata",), "projects[0].clusters[0]: metadata: field required"),
        (("spec",), f"{HEAD}: spec: field required"),
        (("spec", "type"), f"{HEAD}: spec.type: field required"),
        (("spec", "flavor"), f"{HEAD}: spec.flavor: field required"),
        (("spec", "hostNetwork"), f"{HEAD}: spec.hostNetwork: field required"),
        (("spec", "hostNetwork", "vpc"), f"{HEAD}: spec.hostNetwork.vpc: field required"),
        (("spec", "hostNetwork", "subnet"), f"{HEAD}: spec.hostNetwork.subnet: field required"),
        (("spec", "containerNetwork"), f"{HEAD}: spec.containerNetwork: field required"),
        (
            ("spec", "containerNetwork", "mode"),
            f"{HEAD}: spec.containerNetwork.mode: field required",
        ),
    ],
)
def test_required_fields_are_reported_missing(path: tuple[str, ...], expected: str) -> None:
    """Leaving out any required field of a complete body gives exactly that one problem."""
    cluster: dict[str, Any] = {"metadata": {"name": "alpha-one"}, **copy.deepcopy(BASE_DEFAULTS)}
    parent = cluster
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["defaults"] = {}
    data["projects"][0]["clusters"] = [cluster]
    assert problems_of(data) == [expected]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("kind", "Pod", f"{HEAD}: kind: 'Pod' is not one of Cluster"),
        ("apiVersion", "v2", f"{HEAD}: apiVersion: 'v2' is not one of v3"),
        ("apiVersion", 3, f"{HEAD}: apiVersion: 3 is not one of v3"),
    ],
)
def test_kind_and_api_version_have_fixed_values(field: str, value: object, expected: str) -> None:
    """kind must be Cluster and apiVersion v3; anything else is refused, naming the one value."""
    assert problems_of(with_cluster(top={field: value})) == [expected]


def test_explicit_kind_and_api_version_are_accepted() -> None:
    """Writing the fixed values explicitly is as valid as leaving them out."""
    body = body_of(build_plan(with_cluster(top={"kind": "Cluster", "apiVersion": "v3"})))
    assert (body["kind"], body["apiVersion"]) == ("Cluster", "v3")


# ---- Enumerations --------------------------------------------------------------------------


@pytest.mark.parametrize("cluster_type", ["VirtualMachine", "BareMetal", "Windows", "ARM64"])
def test_every_cluster_type_is_accepted(cluster_type: str) -> None:
    """Each of today's cluster types validates (bare metal with its high-speed subnet)."""
    spec = {"type": cluster_type, "hostNetwork": {"highwaySubnet": "hw-1"}}
    assert body_of(build_plan(with_cluster(spec)))["spec"]["type"] == cluster_type


TYPES = "VirtualMachine, BareMetal, Windows, ARM64"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("VirtualMachin", f"'VirtualMachin' is not one of {TYPES}; did you mean VirtualMachine?"),
        ("virtualmachine", f"'virtualmachine' is not one of {TYPES}; did you mean VirtualMachine?"),
        ("Arm64", f"'Arm64' is not one of {TYPES}; did you mean ARM64?"),
        ("baremetal", f"'baremetal' is not one of {TYPES}; did you mean BareMetal?"),
        ("Linux", f"'Linux' is not one of {TYPES}"),
        ("vm", f"'vm' is not one of {TYPES}"),
    ],
)
def test_unknown_cluster_type_lists_the_choices_and_suggests_a_near_miss(
    value: str, expected: str
) -> None:
    """A bad type lists the valid ones and suggests the one meant, when one is close."""
    assert problems_of(with_cluster({"type": value})) == [f"{HEAD}: spec.type: {expected}"]


@pytest.mark.parametrize("mode", ["overlay_l2", "underlay_ipvlan", "vpc-router", "eni"])
def test_every_container_network_mode_is_accepted(mode: str) -> None:
    """Each container network mode, including Turbo's eni, validates."""
    body = body_of(build_plan(with_cluster({"containerNetwork": {"mode": mode}})))
    assert body["spec"]["containerNetwork"]["mode"] == mode


MODES = "overlay_l2, underlay_ipvlan, vpc-router, eni"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vpc_router", f"'vpc_router' is not one of {MODES}; did you mean vpc-router?"),
        ("overlay", f"'overlay' is not one of {MODES}; did you mean overlay_l2?"),
        ("ENI", f"'ENI' is not one of {MODES}; did you mean eni?"),
        ("flannel", f"'flannel' is not one of {MODES}"),
    ],
)
def test_unknown_container_network_mode_is_refused(value: str, expected: str) -> None:
    """A bad mode lists the valid ones and suggests a near miss."""
    data = with_cluster({"containerNetwork": {"mode": value}})
    assert problems_of(data) == [f"{HEAD}: spec.containerNetwork.mode: {expected}"]


# ---- Rules across fields -------------------------------------------------------------------


def test_bare_metal_requires_a_highway_subnet() -> None:
    """A BareMetal cluster without hostNetwork.highwaySubnet is refused at that field."""
    assert problems_of(with_cluster({"type": "BareMetal"})) == [
        f"{HEAD}: spec.hostNetwork.highwaySubnet: required for BareMetal clusters"
    ]


@pytest.mark.parametrize("cluster_type", ["VirtualMachine", "Windows", "ARM64"])
def test_other_types_need_no_highway_subnet(cluster_type: str) -> None:
    """Only bare metal needs the high-speed subnet."""
    body = body_of(build_plan(with_cluster({"type": cluster_type})))
    assert "highwaySubnet" not in body["spec"]["hostNetwork"]


@pytest.mark.parametrize("flavor", ["cce.s2.small", "cce.s2.medium", "cce.s2.xlarge"])
def test_multi_az_is_accepted_with_an_ha_flavor(flavor: str) -> None:
    """clusterAZ multi_az with a cce.s2.* flavor is valid and passed on."""
    spec = {"flavor": flavor, "extendParam": {"clusterAZ": "multi_az"}}
    assert body_of(build_plan(with_cluster(spec)))["spec"]["extendParam"] == {
        "clusterAZ": "multi_az"
    }


@pytest.mark.parametrize("flavor", ["cce.s1.small", "cce.s1.large", "cce.t1.small"])
def test_multi_az_is_refused_without_an_ha_flavor(flavor: str) -> None:
    """clusterAZ multi_az with a non-HA flavor is refused, naming the flavor in use."""
    spec = {"flavor": flavor, "extendParam": {"clusterAZ": "multi_az"}}
    assert problems_of(with_cluster(spec)) == [
        f"{HEAD}: spec.extendParam.clusterAZ: multi_az needs an HA flavor (cce.s2.*), "
        f"but spec.flavor is {flavor}"
    ]


def test_single_az_is_fine_with_any_flavor() -> None:
    """A clusterAZ other than multi_az puts no demand on the flavor."""
    spec = {"extendParam": {"clusterAZ": "cn-north-4a"}}
    body = body_of(build_plan(with_cluster(spec)))
    assert body["spec"]["extendParam"]["clusterAZ"] == "cn-north-4a"


def test_billing_mode_zero_is_accepted() -> None:
    """Pay per use (0) is the mode batchcreate follows."""
    assert body_of(build_plan(with_cluster({"billingMode": 0})))["spec"]["billingMode"] == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            1,
            "prepaid clusters (1) are created through an order that the billing API tracks, "
            "not a job; batchcreate follows jobs, so use 0 (pay per use)",
        ),
        (2, "billingMode must be 0 (pay per use) or 1 (prepaid), got 2"),
        (True, "must be a whole number, got True"),
        ("0", "must be a whole number, got '0'"),
    ],
)
def test_billing_mode_other_than_zero_is_refused(value: object, message: str) -> None:
    """Prepaid (1) is refused with the reason; 2, true and strings are not billing modes."""
    assert problems_of(with_cluster({"billingMode": value})) == [
        f"{HEAD}: spec.billingMode: {message}"
    ]


# ---- Formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abcd", "ab-cd", "a-1-b2", "team-a-prod-01", "a" * 128])
def test_valid_cluster_names(name: str) -> None:
    """Names of 4 to 128 lowercase letters, digits and inner dashes are accepted."""
    plan = build_plan(with_cluster(name=name))
    assert plan.projects[0].clusters[0].name == name


LENGTH = "must be 4 to 128 characters long"
SHAPE = (
    "must start with a lowercase letter, hold only lowercase letters, digits and '-', "
    "and end with a letter or digit"
)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("abc", LENGTH),
        ("a" * 129, LENGTH),
        ("Abcd", SHAPE),
        ("1abc", SHAPE),
        ("-abc", SHAPE),
        ("abc-", SHAPE),
        ("ab_cd", SHAPE),
        ("ab.cd", SHAPE),
        ("abcD", SHAPE),
    ],
)
def test_invalid_cluster_names(name: str, rule: str) -> None:
    """A name breaking the length or the character rule is refused, quoting it and the rule."""
    assert problems_of(with_cluster(name=name)) == [
        f"projects[0].clusters[0] ({name}): metadata.name: cluster name {name!r} {rule}"
    ]


def test_cluster_name_must_be_a_string() -> None:
    """A numeric name (unquoted in YAML) is refused with the advice to quote it."""
    data = with_cluster()
    data["projects"][0]["clusters"][0]["metadata"]["name"] = 1234
    assert problems_of(data) == [
        "projects[0].clusters[0]: metadata.name: must be a string, got 1234 (quote it in YAML)"
    ]


@pytest.mark.parametrize("cidr", ["172.16.0.0/16", "172.31.0.0/16", "10.1.0.0/16", "10.0.0.0/8"])
def test_valid_container_cidrs(cidr: str) -> None:
    """Networks in CIDR notation pass, in cidr and in cidrs (the bare-metal 10.1/16 too)."""
    spec = {"containerNetwork": {"cidr": cidr, "cidrs": [{"cidr": cidr}]}}
    network = body_of(build_plan(with_cluster(spec)))["spec"]["containerNetwork"]
    assert network == {"mode": "overlay_l2", "cidr": cidr, "cidrs": [{"cidr": cidr}]}


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("172.16.1.0/16", "'172.16.1.0/16' has host bits set; the network is 172.16.0.0/16"),
        ("172.16.0.0", "'172.16.0.0' lacks a prefix length; write it like 172.16.0.0/16"),
        ("garbage", "'garbage' is not a network in CIDR notation such as 172.16.0.0/16"),
        (
            "172.16.0.0/33",
            "'172.16.0.0/33' is not a network in CIDR notation such as 172.16.0.0/16",
        ),
        ("300.1.0.0/16", "'300.1.0.0/16' is not a network in CIDR notation such as 172.16.0.0/16"),
    ],
)
def test_invalid_container_cidr(cidr: str, message: str) -> None:
    """A bad containerNetwork.cidr says what is wrong and, for host bits, the right network."""
    data = with_cluster({"containerNetwork": {"cidr": cidr}})
    assert problems_of(data) == [f"{HEAD}: spec.containerNetwork.cidr: {message}"]


def test_invalid_cidr_inside_cidrs_is_located_by_index() -> None:
    """A bad entry of cidrs is located at its own index."""
    spec = {"containerNetwork": {"cidrs": [{"cidr": "172.16.0.0/16"}, {"cidr": "172.17.0.1/16"}]}}
    assert problems_of(with_cluster(spec)) == [
        f"{HEAD}: spec.containerNetwork.cidrs[1].cidr: "
        "'172.17.0.1/16' has host bits set; the network is 172.17.0.0/16"
    ]


def test_cidrs_entries_need_a_cidr() -> None:
    """An entry of cidrs without its cidr key is a missing field at that index."""
    spec = {"containerNetwork": {"cidrs": [{"block": "172.16.0.0/16"}]}}
    assert problems_of(with_cluster(spec)) == [
        f"{HEAD}: spec.containerNetwork.cidrs[0].cidr: field required"
    ]


@pytest.mark.parametrize("version", ["v1.28", "v1.28.3", "v1.7.3-r13", "v1.31"])
def test_valid_versions(version: str) -> None:
    """vX.Y, vX.Y.Z and vX.Y.Z-rN are accepted as strings."""
    assert body_of(build_plan(with_cluster({"version": version})))["spec"]["version"] == version


@pytest.mark.parametrize("version", ["1.28", "v1", "latest", "v1.28.x", "V1.28"])
def test_invalid_version_strings(version: str) -> None:
    """A version string of the wrong shape is refused with examples of the right one."""
    assert problems_of(with_cluster({"version": version})) == [
        f"{HEAD}: spec.version: version {version!r} must look like v1.28, v1.28.3 or v1.7.3-r13"
    ]


def test_unquoted_yaml_version_is_a_float_to_quote() -> None:
    """YAML reads version: 1.20 as the float 1.2; the error shows that and says to quote it."""
    text = (
        "defaults:\n"
        "  spec: {type: VirtualMachine, flavor: cce.s1.small, version: 1.20,\n"
        "         hostNetwork: {vpc: v, subnet: s}, containerNetwork: {mode: overlay_l2}}\n"
        "projects:\n"
        "  - {id: p, region: cn-north-4, clusters: [{metadata: {name: alpha-one}}]}\n"
    )
    assert problems_of(parse_document(text, "m.yaml")) == [
        "defaults.spec.version: must be a string, got 1.2 (quote it in YAML)"
    ]


@pytest.mark.parametrize("field", ["labels", "annotations"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [(1, "1"), (True, "True"), (1.5, "1.5")],
)
def test_label_and_annotation_values_must_be_strings(field: str, value: object, shown: str) -> None:
    """Numbers and booleans (YAML's yes) as label values are refused with advice to quote."""
    data = with_cluster(metadata={field: {"ok": "fine", "bad": value}})
    assert problems_of(data) == [
        f"{HEAD}: metadata.{field}.bad: must be a string, got {shown} (quote it in YAML)"
    ]


def test_string_labels_and_annotations_are_accepted() -> None:
    """String-valued labels and annotations pass through as given."""
    metadata = {"labels": {"env": "prod"}, "annotations": {"note": "yes"}}
    body = body_of(build_plan(with_cluster(metadata=metadata)))
    assert body["metadata"] == {"name": "alpha-one", **metadata}


# ---- Names and aliases across clusters -----------------------------------------------------


def test_duplicate_names_in_one_project_are_refused() -> None:
    """The second cluster with a name already used in its project is the one reported."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two", "alpha-one"]})
    assert problems_of(data) == [
        "projects[0].clusters[2] (alpha-one): metadata.name: "
        "duplicate name; projects[0].clusters[0] has it too"
    ]


def test_same_name_in_two_projects_is_fine() -> None:
    """Names are unique per project, so two projects may each have one of the same name."""
    plan = build_plan(manifest_dict({"proj-a": ["shared-name"], "proj-b": ["shared-name"]}))
    assert [c.name for p in plan.projects for c in p.clusters] == ["shared-name", "shared-name"]


def test_alias_equal_to_a_later_clusters_name_is_refused() -> None:
    """A name that an earlier cluster already uses as its alias is reported at the name."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    data["projects"][0]["clusters"][0]["metadata"]["alias"] = "alpha-two"
    assert problems_of(data) == [
        "projects[0].clusters[1] (alpha-two): metadata.name: "
        "equals the alias of projects[0].clusters[0]"
    ]


def test_alias_equal_to_an_earlier_clusters_name_is_refused() -> None:
    """An alias that equals an earlier cluster's name is reported at the alias."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    data["projects"][0]["clusters"][1]["metadata"]["alias"] = "alpha-one"
    assert problems_of(data) == [
        "projects[0].clusters[1] (alpha-two): metadata.alias: "
        "equals the name or alias of projects[0].clusters[0]"
    ]


def test_two_clusters_with_the_same_alias_are_refused() -> None:
    """Two clusters may not share one alias."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    for cluster in data["projects"][0]["clusters"]:
        cluster["metadata"]["alias"] = "Shared Alias"
    assert problems_of(data) == [
        "projects[0].clusters[1] (alpha-two): metadata.alias: "
        "equals the name or alias of projects[0].clusters[0]"
    ]


def test_alias_equal_to_its_own_name_or_unique_is_fine() -> None:
    """An alias repeating the cluster's own name, or used once, is valid and sent."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    data["projects"][0]["clusters"][0]["metadata"]["alias"] = "alpha-one"
    data["projects"][0]["clusters"][1]["metadata"]["alias"] = "Alpha Two"
    clusters = build_plan(data).projects[0].clusters
    assert [c.body["metadata"]["alias"] for c in clusters] == ["alpha-one", "Alpha Two"]


def test_alias_in_another_project_is_fine() -> None:
    """Aliases, like names, only clash within one project."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"]})
    data["projects"][1]["clusters"][0]["metadata"]["alias"] = "alpha-one"
    assert build_plan(data).cluster_count == 2


# ---- Projects ------------------------------------------------------------------------------


def test_project_needs_a_region_or_an_endpoint() -> None:
    """A project with neither region nor endpoint cannot be addressed."""
    data = manifest_dict()
    del data["projects"][0]["region"]
    assert problems_of(data) == ["projects[0]: needs a region (or an explicit endpoint)"]


def test_the_same_project_listed_twice_is_refused() -> None:
    """One project id at one endpoint in two entries is refused at the second entry's id."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"]})
    data["projects"][1]["id"] = "proj-a"
    assert problems_of(data) == [
        "projects[1].id: project proj-a at https://cce.cn-north-4.myhuaweicloud.com "
        "is already listed as projects[0]; merge their clusters into one entry"
    ]


def test_the_same_project_id_in_two_regions_is_fine() -> None:
    """The same project id at two different endpoints is two separate targets."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"]})
    data["projects"][1].update(id="proj-a", region="cn-east-3")
    plan = build_plan(data)
    assert [(p.id, p.endpoint) for p in plan.projects] == [
        ("proj-a", "https://cce.cn-north-4.myhuaweicloud.com"),
        ("proj-a", "https://cce.cn-east-3.myhuaweicloud.com"),
    ]


@pytest.mark.parametrize(
    ("endpoint", "planned"),
    [
        ("https://cce.example.com", "https://cce.example.com"),
        ("https://cce.example.com/", "https://cce.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_endpoint_override_must_be_an_http_url(endpoint: str, planned: str) -> None:
    """http(s) URLs with a host are accepted, without a trailing slash."""
    assert build_plan(manifest_dict(endpoint=endpoint)).projects[0].endpoint == planned


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        ("ftp://cce.example.com", "must be an http:// or https:// URL with a host"),
        ("cce.example.com", "must be an http:// or https:// URL with a host"),
        ("https://", "must be an http:// or https:// URL with a host"),
        ("https://cce.example.com/?a=1", "must not carry a query or a fragment"),
        ("https://cce.example.com/#top", "must not carry a query or a fragment"),
    ],
)
def test_invalid_endpoint_override_is_refused(endpoint: str, rule: str) -> None:
    """An endpoint that is not a plain http(s) URL is refused at projects[i].endpoint."""
    assert problems_of(manifest_dict(endpoint=endpoint)) == [
        f"projects[0].endpoint: endpoint {endpoint!r} {rule}"
    ]


@pytest.mark.parametrize("region", ["cn-north-4", "ap-southeast-1", "eu-west-101", "la-south-2"])
def test_valid_regions(region: str) -> None:
    """Region ids like cn-north-4 are accepted."""
    assert build_plan(manifest_dict(region=region)).projects[0].region == region


@pytest.mark.parametrize("region", ["CN-North-4", "cnnorth4", "cn_north_4", "c-north", ""])
def test_invalid_regions(region: str) -> None:
    """A region not shaped like cn-north-4 is refused at projects[i].region."""
    assert problems_of(manifest_dict(region=region)) == [
        f"projects[0].region: region {region!r} must look like cn-north-4"
    ]


@pytest.mark.parametrize("project_id", ["a/b", " proj", "proj "])
def test_project_id_must_not_hold_slashes_or_spaces(project_id: str) -> None:
    """A project id goes into a URL path, so '/' and surrounding spaces are refused."""
    data = manifest_dict()
    data["projects"][0]["id"] = project_id
    assert problems_of(data) == [
        f"projects[0].id: project id {project_id!r} must not contain '/' or spaces"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"nmae": "x"}, "nmae: unknown key; did you mean name?"),
        ({"default": {}}, "default: unknown key; did you mean defaults?"),
        ({"projects": []}, "projects: must be a non-empty list of projects"),
        ({"projects": {"id": "p"}}, "projects: must be a non-empty list of projects"),
        ({"defaults": [1]}, "defaults: must be a mapping laid under every cluster"),
        ({"name": 5}, "name: must be a string, got 5 (quote it in YAML)"),
    ],
)
def test_top_level_shape_problems(change: dict[str, Any], expected: str) -> None:
    """Top-level keys are batchcreate's own: typos, wrong types and empty projects are located."""
    data = manifest_dict()
    data.update(change)
    assert expected in problems_of(data)


def test_project_level_shape_problems() -> None:
    """A misspelt project key, a non-mapping project and a non-mapping cluster are each located."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"]})
    data["projects"][0]["cluster"] = []
    data["projects"][1]["clusters"][0] = "beta-one"
    data["projects"].append("proj-c")
    assert problems_of(data) == [
        "projects[0].cluster: unknown key; did you mean clusters?",
        "projects[1].clusters[0]: must be a mapping of keys to values, got 'beta-one'",
        "projects[2]: must be a mapping of keys to values, got 'proj-c'",
    ]


# ---- Locations and suggestions -------------------------------------------------------------


def test_missing_subnet_is_located_by_project_cluster_and_name() -> None:
    """Indices are 0-based and the cluster's name follows its location."""
    data = manifest_dict({"team-a": ["team-a-web"], "team-b": []})
    del data["defaults"]["spec"]["hostNetwork"]["subnet"]
    data["projects"][0]["defaults"] = {"spec": {"hostNetwork": {"subnet": "subnet-a"}}}
    own_subnet = {"spec": {"hostNetwork": {"subnet": "subnet-b"}}}
    data["projects"][1]["clusters"] = [
        {"metadata": {"name": "team-b-web"}, **own_subnet},
        {"metadata": {"name": "team-b-api"}, **own_subnet},
        {"metadata": {"name": "team-b-cache"}, **own_subnet},
        {"metadata": {"name": "team-b-db"}},
    ]
    with pytest.raises(ManifestError) as info:
        build_plan(data)
    assert info.value.problems == (
        Problem("projects[1].clusters[3] (team-b-db): spec.hostNetwork.subnet", "field required"),
    )
    assert str(info.value) == (
        "projects[1].clusters[3] (team-b-db): spec.hostNetwork.subnet: field required"
    )


@pytest.mark.parametrize(
    ("path", "key", "hint"),
    [
        ((), "Kind", "kind"),
        ((), "specs", "spec"),
        (("metadata",), "nmae", "name"),
        (("metadata",), "label", "labels"),
        (("spec",), "hostNetwok", "hostNetwork"),
        (("spec",), "hostnetwork", "hostNetwork"),
        (("spec",), "Flavor", "flavor"),
        (("spec",), "kubeProxyMod", "kubeProxyMode"),
        (("spec",), "billingMod", "billingMode"),
        (("spec", "hostNetwork"), "securityGroup", "SecurityGroup"),
        (("spec", "hostNetwork"), "highwaySubNet", "highwaySubnet"),
        (("spec", "containerNetwork"), "Cidrs", "cidrs"),
        (("spec", "extendParam"), "clusterAz", "clusterAZ"),
    ],
)
def test_near_miss_keys_in_a_cluster_suggest_the_known_one(
    path: tuple[str, ...], key: str, hint: str
) -> None:
    """A key one slip away from a known one, at any level, is an error naming the known one."""
    data = with_cluster()
    fragment = data["projects"][0]["clusters"][0]
    for part in path:
        fragment = fragment.setdefault(part, {})
    fragment[key] = "x"
    where = ".".join((*path, key))
    assert problems_of(data) == [f"{HEAD}: {where}: unknown field; did you mean {hint}?"]


def test_keys_unlike_any_known_one_pass_through() -> None:
    """A new field no known key resembles is the service's business, not a typo."""
    spec = {"someBrandNewField": {"x": 1}, "kubeProxyMode": "ipvs", "extendParam": {"foo": "bar"}}
    body = body_of(build_plan(with_cluster(spec)))
    assert body["spec"]["someBrandNewField"] == {"x": 1}
    assert body["spec"]["kubeProxyMode"] == "ipvs"
    assert body["spec"]["extendParam"] == {"foo": "bar"}


def test_hostnetwok_from_the_seed_tables_is_caught_with_its_fix() -> None:
    """The seed tables' misspelling hostNetwok is reported, not silently dropped."""
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["projects"][0]["clusters"][0]["spec"] = {"hostNetwok": {"vpc": "vpc-2"}}
    assert problems_of(data) == [
        f"{HEAD}: spec.hostNetwok: unknown field; did you mean hostNetwork?"
    ]


def test_typo_in_batch_defaults_is_reported_once() -> None:
    """A misspelt key under batch defaults is one problem at defaults, not one per cluster."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"], "proj-b": ["beta-one", "beta-two"]})
    data["defaults"]["spec"]["hostNetwok"] = {"vpc": "vpc-2"}
    assert problems_of(data) == [
        "defaults.spec.hostNetwok: unknown field; did you mean hostNetwork?"
    ]


def test_security_group_typo_in_defaults_suggests_the_capital_s() -> None:
    """securityGroup in defaults suggests the wire's SecurityGroup."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    data["defaults"]["spec"]["hostNetwork"]["securityGroup"] = "sg-1"
    assert problems_of(data) == [
        "defaults.spec.hostNetwork.securityGroup: unknown field; did you mean SecurityGroup?"
    ]


def test_typo_in_project_defaults_is_located_there() -> None:
    """A misspelt key under a project's defaults is reported once, at that project's defaults."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    data["projects"][0]["defaults"] = {"spec": {"flavour": "cce.s1.medium"}}
    assert problems_of(data) == [
        "projects[0].defaults.spec.flavour: unknown field; did you mean flavor?"
    ]


def test_bad_value_from_project_defaults_is_located_there_once() -> None:
    """A bad value inherited by every cluster of a project is reported where it was written."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"], "proj-b": ["beta-one"]})
    data["projects"][0]["defaults"] = {"spec": {"containerNetwork": {"mode": "overlay"}}}
    assert problems_of(data) == [
        f"projects[0].defaults.spec.containerNetwork.mode: 'overlay' is not one of {MODES}; "
        "did you mean overlay_l2?"
    ]


def test_bad_value_from_batch_defaults_is_located_there_once() -> None:
    """A bad value in batch defaults, inherited across projects, is one problem at defaults."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"], "proj-b": ["beta-one"]})
    data["defaults"]["spec"]["type"] = "VirtualMachin"
    assert problems_of(data) == [
        f"defaults.spec.type: 'VirtualMachin' is not one of {TYPES}; did you mean VirtualMachine?"
    ]


def test_project_defaults_win_the_location_over_batch_defaults() -> None:
    """When both defaults set the bad value, the project's (the one used) is blamed."""
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["defaults"]["spec"]["billingMode"] = 1
    data["projects"][0]["defaults"] = {"spec": {"billingMode": 2}}
    assert problems_of(data) == [
        "projects[0].defaults.spec.billingMode: "
        "billingMode must be 0 (pay per use) or 1 (prepaid), got 2"
    ]


def test_cross_field_problem_from_defaults_is_located_there() -> None:
    """multi_az set in project defaults with a non-HA flavor is blamed on those defaults."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    data["projects"][0]["defaults"] = {"spec": {"extendParam": {"clusterAZ": "multi_az"}}}
    assert problems_of(data) == [
        "projects[0].defaults.spec.extendParam.clusterAZ: multi_az needs an HA flavor "
        "(cce.s2.*), but spec.flavor is cce.s1.small"
    ]


def test_cluster_value_overrides_a_bad_default() -> None:
    """A bad default that every cluster overrides is never used, so it is no problem."""
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["defaults"]["spec"]["type"] = "VirtualMachin"
    data["projects"][0]["clusters"][0]["spec"] = {"type": "ARM64"}
    assert body_of(build_plan(data))["spec"]["type"] == "ARM64"


def test_every_problem_is_reported_at_once() -> None:
    """Top-level, settings and cluster problems in several projects all come in one error."""
    data = manifest_dict(
        {"proj-a": ["alpha-one", "alpha-two"], "proj-b": ["beta-one", "beta-two"], "proj-c": []},
        settings={"rateLimit": 0, "maxInFlight": "x"},
    )
    data["nmae"] = "typo"
    data["projects"][0]["clusters"][1]["spec"] = {"type": "VM"}
    data["projects"][1]["clusters"][0]["spec"] = {"hostNetwork": {"subnet": ""}}
    data["projects"][1]["clusters"][1]["spec"] = {"containerNetwork": {"cidr": "172.16.0.1/16"}}
    del data["projects"][2]["region"]
    problems = problems_of(data)
    assert set(problems) == {
        "nmae: unknown key; did you mean name?",
        "settings.rateLimit: input should be greater than 0",
        "settings.maxInFlight: must be a whole number, got 'x'",
        f"projects[0].clusters[1] (alpha-two): spec.type: 'VM' is not one of {TYPES}",
        "projects[1].clusters[0] (beta-one): spec.hostNetwork.subnet: must not be empty",
        "projects[1].clusters[1] (beta-two): spec.containerNetwork.cidr: "
        "'172.16.0.1/16' has host bits set; the network is 172.16.0.0/16",
        "projects[2]: needs a region (or an explicit endpoint)",
    }
    assert len(problems) == 7


# ---- validate_clusters on its own ----------------------------------------------------------


def test_validate_clusters_returns_valid_bodies_and_skips_invalid_ones() -> None:
    """Valid clusters come back as (location, name, wire body); invalid ones only as problems."""
    good = {"kind": "Cluster", "apiVersion": "v3", "metadata": {"name": "good-one"}}
    good.update(copy.deepcopy(BASE_DEFAULTS))
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "BadName"
    problems, valid = validate_clusters([("here[0]", good, good), ("here[1]", bad, bad)])
    assert valid == [("here[0]", "good-one", good)]
    assert [str(p) for p in problems] == [
        f"here[1] (BadName): metadata.name: cluster name 'BadName' {SHAPE}"
    ]


def test_validate_clusters_checks_layers_even_without_clusters() -> None:
    """Defaults layers are checked for near-miss keys even when no cluster uses them."""
    problems, valid = validate_clusters([], layers=[("defaults", {"spec": {"flavr": "x"}})])
    assert valid == []
    assert problems == [Problem("defaults.spec.flavr", "unknown field; did you mean flavor?")]
