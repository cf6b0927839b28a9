"""Where a project's credentials come from, decided without reading any global state.

Sources, in order; the first that yields credentials wins:

1. The project's ``credentials`` entry in the manifest. It names where the secrets are and
   never holds one. When a project has an entry, it is the only source for that project: a
   project pinned to another account must fail loudly rather than fall back to the
   default credentials. One of:

   - ``{env: PREFIX}``: ``PREFIX_TOKEN`` (an IAM token), else ``PREFIX_AK`` and
     ``PREFIX_SK``, with ``PREFIX_SECURITY_TOKEN`` for temporary keys.
   - ``{profile: PATH, section: NAME}``: an INI file laid out like the SDK's profile (keys
     ``ak``, ``sk``, ``security_token``, ``project_id``); ``section`` defaults to
     ``basic``, ``~`` is the home directory, a relative path is relative to the manifest.
   - ``{iam: {user: NAME | userEnv: VAR, passwordEnv: VAR, domain: NAME | domainEnv: VAR,
     endpoint: URL, scope: project | region}}``: an IAM user whose password, read from
     ``VAR``, is exchanged for tokens; ``endpoint`` overrides the IAM endpoint and
     ``scope`` (default ``project``) how tokens are scoped.

2. ``BATCHCREATE_TOKEN``: an IAM token.
3. ``HUAWEICLOUD_SDK_AK`` and ``HUAWEICLOUD_SDK_SK``, with ``HUAWEICLOUD_SDK_SECURITY_TOKEN``
   for temporary keys: the official SDK's variables.
4. The SDK's profile file: ``HUAWEICLOUD_SDK_CREDENTIALS_FILE``, by default
   ``~/.huaweicloud/credentials``, section ``[basic]``.

A blank variable counts as unset. ``literal_secret_problems`` finds secrets written into a
manifest, so that ``validate`` can refuse it.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from batchcreate.endpoints import check_endpoint
from batchcreate.errors import CredentialsError, ManifestError, Problem
from batchcreate.problems import join_path, suggest

TOKEN_ENV = "BATCHCREATE_TOKEN"
SDK_PREFIX = "HUAWEICLOUD_SDK"
PROFILE_ENV = "HUAWEICLOUD_SDK_CREDENTIALS_FILE"
DEFAULT_PROFILE = "~/.huaweicloud/credentials"
DEFAULT_SECTION = "basic"
_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Secret:
    """A secret string that never shows itself in ``repr``, ``str`` or f-strings."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


class CredentialKind(StrEnum):
    TOKEN = "token"
    AKSK = "ak/sk"
    TEMPORARY_AKSK = "temporary ak/sk"
    IAM_PASSWORD = "iam password"


# ---- the manifest entry ------------------------------------------------------------------


@dataclass(frozen=True)
class EnvEntry:
    """``{env: PREFIX}``."""

    prefix: str


@dataclass(frozen=True)
class ProfileEntry:
    """``{profile: PATH, section: NAME}``."""

    path: str
    section: str = DEFAULT_SECTION


@dataclass(frozen=True)
class IamEntry:
    """``{iam: {...}}``: exactly one of ``user``/``user_env`` and of ``domain``/``domain_env``."""

    password_env: str
    user: str | None = None
    user_env: str | None = None
    domain: str | None = None
    domain_env: str | None = None
    endpoint: str | None = None
    scope: Literal["project", "region"] = "project"


CredentialsEntry = EnvEntry | ProfileEntry | IamEntry

_ENTRY_KINDS = ("env", "profile", "iam")
_IAM_KEYS = ("user", "userEnv", "passwordEnv", "domain", "domainEnv", "endpoint", "scope")


def _variable(value: object, where: str, problems: list[Problem]) -> str | None:
    if isinstance(value, str) and _PREFIX.match(value):
        return value
    problems.append(Problem(where, "must be an environment variable name such as TEAM_B"))
    return None


def _text(value: object, where: str, problems: list[Problem]) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    problems.append(Problem(where, "must be a non-empty string"))
    return None


def _unknown(keys: list[str], known: tuple[str, ...], where: str) -> list[Problem]:
    out = []
    for key in keys:
        if _secret_key(key) is not None:
            continue  # literal_secret_problems explains these
        hint = suggest(key, known)
        text = (
            f"unknown key; did you mean {hint}?" if hint else f"unknown key; use {', '.join(known)}"
        )
        out.append(Problem(join_path(where, [key]), text))
    return out


def _one_of(
    entry: Mapping[str, object], plain: str, env: str, where: str, problems: list[Problem]
) -> tuple[str | None, str | None]:
    if (plain in entry) == (env in entry):
        problems.append(Problem(where, f"needs exactly one of {plain} and {env}"))
        return None, None
    if plain in entry:
        return _text(entry[plain], join_path(where, [plain]), problems), None
    return None, _variable(entry[env], join_path(where, [env]), problems)


def _iam_entry(value: object, where: str, problems: list[Problem]) -> IamEntry | None:
    if not isinstance(value, Mapping):
        problems.append(Problem(where, "must be a mapping such as {userEnv: U, passwordEnv: P}"))
        return None
    problems.extend(_unknown([str(k) for k in value if k not in _IAM_KEYS], _IAM_KEYS, where))
    user, user_env = _one_of(value, "user", "userEnv", where, problems)
    domain, domain_env = _one_of(value, "domain", "domainEnv", where, problems)
    password_env = None
    if "passwordEnv" in value:
        password_env = _variable(value["passwordEnv"], join_path(where, ["passwordEnv"]), problems)
    else:
        problems.append(
            Problem(where, "needs passwordEnv: the environment variable holding the password")
        )
    endpoint = None
    if "endpoint" in value:
        raw = _text(value["endpoint"], join_path(where, ["endpoint"]), problems)
        try:
            endpoint = check_endpoint(raw) if raw else None
        except ValueError as exc:
            problems.append(Problem(join_path(where, ["endpoint"]), str(exc)))
    scope = value.get("scope", "project")
    if scope not in ("project", "region"):
        problems.append(Problem(join_path(where, ["scope"]), "must be project or region"))
    if password_env is None or (user or user_env) is None or (domain or domain_env) is None:
        return None
    return IamEntry(
        password_env,
        user,
        user_env,
        domain,
        domain_env,
        endpoint,
        "region" if scope == "region" else "project",
    )


def parse_credentials_entry(value: object, location: str = "credentials") -> CredentialsEntry:
    """The manifest's ``credentials`` entry as a value, or ``ManifestError`` with every problem."""
    problems: list[Problem] = []
    entry: CredentialsEntry | None = None
    kinds = [k for k in _ENTRY_KINDS if isinstance(value, Mapping) and k in value]
    if not isinstance(value, Mapping) or len(kinds) != 1:
        raise ManifestError(
            [Problem(location, "must be exactly one of {env: PREFIX}, {profile: PATH}, {iam: ...}")]
        )
    allowed = ("profile", "section") if kinds == ["profile"] else (kinds[0],)
    problems.extend(_unknown([str(k) for k in value if k not in allowed], allowed, location))
    where = join_path(location, [kinds[0]])
    if kinds == ["env"]:
        prefix = _variable(value["env"], where, problems)
        entry = EnvEntry(prefix.rstrip("_")) if prefix else None
    elif kinds == ["profile"]:
        path = _text(value["profile"], where, problems)
        section = _text(value.get("section", DEFAULT_SECTION), f"{location}.section", problems)
        entry = ProfileEntry(path, section) if path and section else None
    else:
        entry = _iam_entry(value["iam"], where, problems)
    problems.extend(literal_secret_problems(value, location))
    if problems or entry is None:
        raise ManifestError(problems or [Problem(location, "invalid credentials entry")])
    return entry


# ---- what was found ----------------------------------------------------------------------


def _mask(value: str) -> str:
    return value[:4] + "***" if len(value) > 8 else "***"


@dataclass(frozen=True)
class FoundCredentials:
    """Which credentials were found and where; every secret is a ``Secret``."""

    kind: CredentialKind
    source: str
    token: Secret | None = None
    ak: str | None = None
    sk: Secret | None = None
    security_token: Secret | None = None
    user: str | None = None
    password: Secret | None = None
    domain: str | None = None
    #: The profile file's ``project_id``, for a caller that wants to cross-check it.
    project_id: str | None = None
    iam_endpoint: str | None = None
    iam_scope: Literal["project", "region"] = "project"

    def __repr__(self) -> str:
        shown = [f"kind={self.kind.value!r}", f"source={self.source!r}"]
        if self.ak:
            shown.append(f"ak={_mask(self.ak)!r}")
        for name in ("token", "sk", "security_token", "password"):
            if getattr(self, name) is not None:
                shown.append(f"{name}='***'")
        if self.user:
            shown.append(f"user={self.user!r}, domain={self.domain!r}")
        return f"FoundCredentials({', '.join(shown)})"

    def secrets(self) -> list[str]:
        """Every secret value held, for a redactor to learn."""
        held = (self.token, self.sk, self.security_token, self.password)
        return [s.reveal() for s in held if s is not None]


@dataclass(frozen=True)
class Resolution:
    """The credentials chosen and anything the user should be warned about."""

    found: FoundCredentials
    warnings: tuple[str, ...] = ()


@dataclass
class _Search:
    environ: Mapping[str, str]
    home: Path
    base_dir: Path | None
    tried: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.environ.get(name, "").strip() or None

    def path(self, text: str) -> Path:
        if text == "~" or text.startswith("~/"):
            return self.home / text[2:]
        path = Path(text)
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path


def _token(search: _Search, name: str, source: str) -> FoundCredentials | None:
    value = search.get(name)
    if value is None:
        search.tried.append(f"{name} (unset)")
        return None
    return FoundCredentials(
        CredentialKind.TOKEN, f"{source}environment variable {name}", token=Secret(value)
    )


def _key_pair(search: _Search, prefix: str, source: str) -> FoundCredentials | None:
    names = [f"{prefix}_{k}" for k in ("AK", "SK", "SECURITY_TOKEN")]
    ak, sk, security_token = (search.get(n) for n in names)
    if ak and sk:
        used = names if security_token else names[:2]
        kind = CredentialKind.TEMPORARY_AKSK if security_token else CredentialKind.AKSK
        return FoundCredentials(
            kind,
            f"{source}environment variables {', '.join(used)}",
            ak=ak,
            sk=Secret(sk),
            security_token=Secret(security_token) if security_token else None,
        )
    pair = f"{names[0]}/{names[1]}"
    if ak or sk:
        missing = names[1] if ak else names[0]
        search.tried.append(f"{pair} ({missing} unset)")
        search.warnings.append(f"{pair}: {missing} is unset, so the pair is ignored")
    else:
        search.tried.append(f"{pair} (unset)")
        if security_token:
            search.warnings.append(f"{names[2]} is set without {pair}, so it is ignored")
    return None


def _read_profile(search: _Search, path: Path, section: str) -> Mapping[str, str] | None:
    label = f"profile {path} [{section}]"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except FileNotFoundError:
        search.tried.append(f"{label} (no such file)")
        return None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError, configparser.Error) as exc:
        reason = {
            IsADirectoryError: "a directory",
            PermissionError: "not readable: permission denied",
            UnicodeDecodeError: "not UTF-8 text",
        }.get(type(exc), f"not an INI file: {str(exc).splitlines()[0]}")
        search.tried.append(f"{label} ({reason})")
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o044:
        who = " and ".join(w for w, bit in (("group", 0o040), ("others", 0o004)) if mode & bit)
        search.warnings.append(
            f"credentials file {path} is readable by {who} (mode {mode:o}); "
            f"restrict it with: chmod 600 {path}"
        )
    if not parser.has_section(section):
        search.tried.append(f"{label} (no [{section}] section)")
        return None
    return parser[section]


def _profile(search: _Search, path: Path, section: str, source: str) -> FoundCredentials | None:
    values = _read_profile(search, path, section)
    if values is None:
        return None
    ak, sk, token, project = (
        values.get(k, "").strip() or None for k in ("ak", "sk", "security_token", "project_id")
    )
    if not (ak and sk):
        search.tried.append(f"profile {path} [{section}] (no ak and sk)")
        return None
    return FoundCredentials(
        CredentialKind.TEMPORARY_AKSK if token else CredentialKind.AKSK,
        f"{source}profile {path} [{section}]",
        ak=ak,
        sk=Secret(sk),
        security_token=Secret(token) if token else None,
        project_id=project,
    )


def _iam(search: _Search, entry: IamEntry, source: str) -> FoundCredentials | None:
    user = entry.user or (search.get(entry.user_env) if entry.user_env else None)
    domain = entry.domain or (search.get(entry.domain_env) if entry.domain_env else None)
    password = search.get(entry.password_env)
    unset = [
        name
        for name, value in ((entry.user_env, user), (entry.domain_env, domain))
        if name and value is None
    ]
    if password is None:
        unset.append(entry.password_env)
    if unset or not (user and domain and password):
        who = entry.user_env or entry.user
        search.tried.append(
            f"IAM user from {who}, password from {entry.password_env} ({', '.join(unset)} unset)"
        )
        return None
    return FoundCredentials(
        CredentialKind.IAM_PASSWORD,
        f"{source}IAM user {user} in {domain}, password from {entry.password_env}",
        user=user,
        password=Secret(password),
        domain=domain,
        iam_endpoint=entry.endpoint,
        iam_scope=entry.scope,
    )


def _from_entry(search: _Search, entry: CredentialsEntry) -> FoundCredentials | None:
    source = "manifest credentials: "
    if isinstance(entry, EnvEntry):
        return _token(search, f"{entry.prefix}_TOKEN", source) or _key_pair(
            search, entry.prefix, source
        )
    if isinstance(entry, ProfileEntry):
        return _profile(search, search.path(entry.path), entry.section, source)
    return _iam(search, entry, source)


def _from_defaults(search: _Search) -> FoundCredentials | None:
    found = _token(search, TOKEN_ENV, "") or _key_pair(search, SDK_PREFIX, "")
    if found is not None:
        return found
    from_env = search.get(PROFILE_ENV)
    # A path from the environment is the shell's: relative to the working directory, as the
    # SDK reads it; only manifest entries are relative to the manifest.
    if from_env and not from_env.startswith("~"):
        profile = Path(from_env)
    else:
        profile = search.path(from_env or DEFAULT_PROFILE)
    return _profile(search, profile, DEFAULT_SECTION, "")


def resolve_credentials(
    entry: CredentialsEntry | None,
    *,
    environ: Mapping[str, str],
    home: Path,
    base_dir: Path | None = None,
    project_id: str | None = None,
) -> Resolution:
    """The first credentials the sources offer, or ``CredentialsError`` naming all it tried.

    ``environ`` and ``home`` stand for the process's environment and home directory;
    ``base_dir`` (the manifest's directory) anchors a relative profile path; ``project_id``
    only names the project in the error message.
    """
    search = _Search(environ, home, base_dir)
    found = _from_entry(search, entry) if entry is not None else _from_defaults(search)
    if found is None:
        whose = f" for project {project_id}" if project_id else ""
        raise CredentialsError(
            f"no credentials{whose}: tried {'; '.join(search.tried)}; "
            "provide one of them (see the README, Credentials), "
            "or rehearse without the cloud with --simulate"
        )
    return Resolution(found, tuple(search.warnings))


# ---- secrets written into a manifest -----------------------------------------------------

_FIX = {
    "sk": "put the SK in the environment as PREFIX_SK and write credentials: {env: PREFIX}, "
    "or keep it in a profile file and write credentials: {profile: PATH}",
    "password": "put the password in an environment variable VAR and write "
    "credentials: {iam: {user: NAME, passwordEnv: VAR, domain: ACCOUNT}}",
    "token": "put the token in the environment as PREFIX_TOKEN (or PREFIX_SECURITY_TOKEN) and "
    "write credentials: {env: PREFIX}, or set BATCHCREATE_TOKEN",
}
_SECRET_KEYS = {
    "sk": "sk",
    "secretkey": "sk",
    "password": "password",
    "token": "token",
    "securitytoken": "token",
}


def _secret_key(key: object) -> str | None:
    return _SECRET_KEYS.get(str(key).lower().replace("_", "").replace("-", ""))


def _holds_value(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int | float)


def literal_secret_problems(manifest: object, prefix: str = "") -> list[Problem]:
    """Every place a manifest holds a literal secret (``sk``, ``password``, ``token``, ...).

    The message says how to move the secret out; it never repeats the value.
    """
    out: list[Problem] = []
    if isinstance(manifest, Mapping):
        for key, value in manifest.items():
            where = join_path(prefix, [str(key)])
            kind = _secret_key(key)
            if kind is not None and _holds_value(value):
                out.append(
                    Problem(
                        where,
                        "holds a literal secret, and a manifest must only say where secrets "
                        f"are (it is shared, committed and logged): {_FIX[kind]}",
                    )
                )
            else:
                out.extend(literal_secret_problems(value, where))
    elif isinstance(manifest, list | tuple):
        for index, item in enumerate(manifest):
            out.extend(literal_secret_problems(item, join_path(prefix, [index])))
    return out
