"""Credential sources: the manifest entry, the environment, the profile file, and their order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from batchcreate.credentials import (
    CredentialKind,
    EnvEntry,
    FoundCredentials,
    IamEntry,
    ProfileEntry,
    Resolution,
    Secret,
    literal_secret_problems,
    parse_credentials_entry,
    resolve_credentials,
)
from batchcreate.errors import CredentialsError, ManifestError, Problem

SK = "SENTINEL-SK-1b2c"
TOKEN = "SENTINEL-TOKEN-9d8e"
PASSWORD = "SENTINEL-PASSWORD-5f6a"


def _profile(home: Path, text: str, mode: int = 0o600, name: str = "credentials") -> Path:
    path = home / ".huaweicloud" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def _resolve(environ: dict[str, str], home: Path, entry: Any = None, **kw: Any) -> Resolution:
    return resolve_credentials(entry, environ=environ, home=home, **kw)


# ---- the default chain -------------------------------------------------------------------


def test_batchcreate_token_comes_first(tmp_path: Path) -> None:
    """BATCHCREATE_TOKEN wins over an AK/SK pair and a profile file."""
    _profile(tmp_path, f"[basic]\nak = PAK\nsk = {SK}\n")
    environ = {
        "BATCHCREATE_TOKEN": f" {TOKEN} ",
        "HUAWEICLOUD_SDK_AK": "EAK",
        "HUAWEICLOUD_SDK_SK": SK,
    }

    found = _resolve(environ, tmp_path).found

    assert found.kind is CredentialKind.TOKEN
    assert found.token == Secret(TOKEN)
    assert found.source == "environment variable BATCHCREATE_TOKEN"


def test_sdk_key_pair_comes_before_the_profile(tmp_path: Path) -> None:
    """HUAWEICLOUD_SDK_AK/SK are used when no token is set, even if a profile exists."""
    _profile(tmp_path, f"[basic]\nak = PAK\nsk = {SK}\n")
    environ = {"HUAWEICLOUD_SDK_AK": "EAK", "HUAWEICLOUD_SDK_SK": SK, "BATCHCREATE_TOKEN": " "}

    found = _resolve(environ, tmp_path).found

    assert (found.kind, found.ak, found.sk) == (CredentialKind.AKSK, "EAK", Secret(SK))
    assert found.security_token is None
    assert found.source == "environment variables HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK"


def test_sdk_security_token_makes_the_pair_temporary(tmp_path: Path) -> None:
    """With HUAWEICLOUD_SDK_SECURITY_TOKEN the pair is temporary and carries the token."""
    environ = {
        "HUAWEICLOUD_SDK_AK": "EAK",
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN,
    }

    found = _resolve(environ, tmp_path).found

    assert found.kind is CredentialKind.TEMPORARY_AKSK
    assert found.security_token == Secret(TOKEN)
    assert found.source.endswith("HUAWEICLOUD_SDK_SECURITY_TOKEN")


def test_default_profile_file_is_read_last(tmp_path: Path) -> None:
    """With nothing in the environment, ~/.huaweicloud/credentials [basic] is used."""
    path = _profile(
        tmp_path,
        f"[other]\nak = NO\nsk = NO\n[basic]\nak = PAK\nsk = {SK}\n"
        f"security_token = {TOKEN}\nproject_id = p-77\n",
    )

    resolution = _resolve({}, tmp_path)

    found = resolution.found
    assert (found.kind, found.ak, found.project_id) == (
        CredentialKind.TEMPORARY_AKSK,
        "PAK",
        "p-77",
    )
    assert found.sk == Secret(SK)
    assert found.source == f"profile {path} [basic]"
    assert resolution.warnings == ()


def test_profile_path_comes_from_the_environment(tmp_path: Path) -> None:
    """HUAWEICLOUD_SDK_CREDENTIALS_FILE points to another profile file, ~ expanded."""
    _profile(tmp_path, "[basic]\nak = DEFAULT\nsk = x\n")
    _profile(tmp_path, f"[basic]\nak = CHOSEN\nsk = {SK}\n", name="team")

    found = _resolve({"HUAWEICLOUD_SDK_CREDENTIALS_FILE": "~/.huaweicloud/team"}, tmp_path).found

    assert found.ak == "CHOSEN"


@pytest.mark.parametrize(
    ("mode", "who"), [(0o640, "group"), (0o604, "others"), (0o644, "group and others")]
)
def test_profile_readable_by_others_warns(tmp_path: Path, mode: int, who: str) -> None:
    """A profile readable by group or others is used, with a warning saying how to fix it."""
    path = _profile(tmp_path, f"[basic]\nak = PAK\nsk = {SK}\n", mode=mode)

    resolution = _resolve({}, tmp_path)

    assert resolution.found.ak == "PAK"
    assert resolution.warnings == (
        f"credentials file {path} is readable by {who} (mode {mode:o}); "
        f"restrict it with: chmod 600 {path}",
    )


def test_nothing_found_lists_every_source_in_one_line(tmp_path: Path) -> None:
    """With no source set, the error names each source tried and why it gave nothing."""
    with pytest.raises(CredentialsError) as caught:
        _resolve({}, tmp_path, project_id="proj-a")

    message = str(caught.value)
    assert message == (
        "no credentials for project proj-a: tried BATCHCREATE_TOKEN (unset); "
        "HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK (unset); "
        f"profile {tmp_path}/.huaweicloud/credentials [basic] (no such file); "
        "provide one of them (see the README, Credentials), "
        "or rehearse without the cloud with --simulate"
    )
    assert "\n" not in message
    assert caught.value.code == "credentials.missing"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[other]\nak = a\nsk = b\n", "no [basic] section"),
        ("[basic]\nak = a\n", "no ak and sk"),
        ("ak = a\n", "not an INI file: File contains no section headers."),
    ],
)
def test_unusable_profile_says_why(tmp_path: Path, text: str, reason: str) -> None:
    """A profile without the section, without the keys, or not INI, is named with the reason."""
    _profile(tmp_path, text)

    with pytest.raises(CredentialsError) as caught:
        _resolve({}, tmp_path)

    assert f"credentials [basic] ({reason}" in str(caught.value)


def test_profile_that_is_a_directory_or_not_utf8_is_explained(tmp_path: Path) -> None:
    """A directory or binary file where the profile should be gives a clear reason."""
    (tmp_path / ".huaweicloud" / "credentials").mkdir(parents=True)
    binary = tmp_path / "bin.ini"
    binary.write_bytes(b"[basic]\nak = \xff\n")

    with pytest.raises(CredentialsError, match="a directory"):
        _resolve({}, tmp_path)
    with pytest.raises(CredentialsError, match="not UTF-8 text"):
        _resolve({"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(binary)}, tmp_path)


def test_half_set_pair_is_ignored_with_a_warning(tmp_path: Path) -> None:
    """An AK without an SK is skipped for the profile, and the warning names the missing one."""
    _profile(tmp_path, f"[basic]\nak = PAK\nsk = {SK}\n")

    resolution = _resolve({"HUAWEICLOUD_SDK_AK": "EAK"}, tmp_path)

    assert resolution.found.ak == "PAK"
    assert resolution.warnings == (
        "HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK: HUAWEICLOUD_SDK_SK is unset, so the pair is "
        "ignored",
    )


def test_half_set_pair_appears_in_the_error(tmp_path: Path) -> None:
    """When nothing else is found, the error says which half of the pair is missing."""
    with pytest.raises(CredentialsError, match=r"\(HUAWEICLOUD_SDK_AK unset\)"):
        _resolve({"HUAWEICLOUD_SDK_SK": SK}, tmp_path)


def test_lone_security_token_warns(tmp_path: Path) -> None:
    """A security token without its key pair is ignored, with a warning that says so."""
    _profile(tmp_path, f"[basic]\nak = PAK\nsk = {SK}\n")

    resolution = _resolve({"HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN}, tmp_path)

    assert resolution.found.kind is CredentialKind.AKSK
    assert resolution.found.security_token is None
    assert resolution.warnings == (
        "HUAWEICLOUD_SDK_SECURITY_TOKEN is set without HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK, "
        "so it is ignored",
    )


# ---- the manifest entry ------------------------------------------------------------------


def test_env_entry_prefers_its_token(tmp_path: Path) -> None:
    """{env: TEAM_B} reads TEAM_B_TOKEN before TEAM_B_AK/TEAM_B_SK."""
    environ = {"TEAM_B_TOKEN": TOKEN, "TEAM_B_AK": "BAK", "TEAM_B_SK": SK}

    found = _resolve(environ, tmp_path, EnvEntry("TEAM_B")).found

    assert found.kind is CredentialKind.TOKEN
    assert found.source == "manifest credentials: environment variable TEAM_B_TOKEN"


def test_env_entry_reads_a_temporary_pair(tmp_path: Path) -> None:
    """{env: TEAM_B} reads TEAM_B_AK, TEAM_B_SK and TEAM_B_SECURITY_TOKEN."""
    environ = {"TEAM_B_AK": "BAK", "TEAM_B_SK": SK, "TEAM_B_SECURITY_TOKEN": TOKEN}

    found = _resolve(environ, tmp_path, EnvEntry("TEAM_B")).found

    assert (found.kind, found.ak) == (CredentialKind.TEMPORARY_AKSK, "BAK")
    assert found.source == (
        "manifest credentials: environment variables TEAM_B_AK, TEAM_B_SK, TEAM_B_SECURITY_TOKEN"
    )


def test_entry_is_the_only_source_for_its_project(tmp_path: Path) -> None:
    """A project with an entry never falls back to the default sources, and says so."""
    environ = {"BATCHCREATE_TOKEN": TOKEN, "HUAWEICLOUD_SDK_AK": "A", "HUAWEICLOUD_SDK_SK": SK}

    with pytest.raises(CredentialsError) as caught:
        _resolve(environ, tmp_path, EnvEntry("TEAM_B"), project_id="p-b")

    assert str(caught.value).startswith(
        "no credentials for project p-b: tried TEAM_B_TOKEN (unset); TEAM_B_AK/TEAM_B_SK (unset); "
    )
    assert "BATCHCREATE_TOKEN" not in str(caught.value)


def test_profile_entry_reads_its_section_relative_to_the_manifest(tmp_path: Path) -> None:
    """{profile: creds.ini, section: team} is read from the manifest's directory."""
    manifest_dir = tmp_path / "fleet"
    manifest_dir.mkdir()
    (manifest_dir / "creds.ini").write_text(f"[team]\nak = TAK\nsk = {SK}\n")
    os.chmod(manifest_dir / "creds.ini", 0o600)

    found = _resolve({}, tmp_path, ProfileEntry("creds.ini", "team"), base_dir=manifest_dir).found

    assert found.ak == "TAK"
    assert found.source == f"manifest credentials: profile {manifest_dir}/creds.ini [team]"


def test_profile_entry_expands_the_home_directory(tmp_path: Path) -> None:
    """A profile path starting with ~/ is under the given home directory."""
    _profile(tmp_path, f"[basic]\nak = HAK\nsk = {SK}\n", name="mine")

    found = _resolve({}, tmp_path, ProfileEntry("~/.huaweicloud/mine")).found

    assert found.ak == "HAK"


def test_iam_entry_reads_user_password_and_domain(tmp_path: Path) -> None:
    """{iam: ...} takes the user and domain literally or from variables, the password from one."""
    entry = IamEntry("TEAM_PW", user_env="TEAM_USER", domain="acme", endpoint="https://iam.x")
    environ = {"TEAM_USER": "alice", "TEAM_PW": PASSWORD}

    found = _resolve(environ, tmp_path, entry).found

    assert (found.kind, found.user, found.domain) == (
        CredentialKind.IAM_PASSWORD,
        "alice",
        "acme",
    )
    assert found.password == Secret(PASSWORD)
    assert found.iam_endpoint == "https://iam.x"
    assert found.source == "manifest credentials: IAM user alice in acme, password from TEAM_PW"


def test_iam_entry_names_the_unset_variables(tmp_path: Path) -> None:
    """When the password or user variable is unset, the error names them."""
    entry = IamEntry("TEAM_PW", user_env="TEAM_USER", domain="acme")

    with pytest.raises(CredentialsError) as caught:
        _resolve({}, tmp_path, entry)

    assert "IAM user from TEAM_USER, password from TEAM_PW (TEAM_USER, TEAM_PW unset)" in str(
        caught.value
    )


# ---- parsing the entry -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"env": "TEAM_B"}, EnvEntry("TEAM_B")),
        ({"env": "TEAM_B_"}, EnvEntry("TEAM_B")),
        ({"profile": "~/p"}, ProfileEntry("~/p", "basic")),
        ({"profile": "p.ini", "section": "team"}, ProfileEntry("p.ini", "team")),
        (
            {"iam": {"user": "alice", "passwordEnv": "PW", "domainEnv": "DOM", "scope": "region"}},
            IamEntry("PW", user="alice", domain_env="DOM", scope="region"),
        ),
    ],
)
def test_entries_parse_into_values(value: dict[str, Any], expected: object) -> None:
    """Each documented entry shape parses into its value object."""
    assert parse_credentials_entry(value) == expected


@pytest.mark.parametrize(
    ("value", "location", "message"),
    [
        ({"env": "TEAM", "profile": "p"}, "credentials", "must be exactly one of"),
        ("TEAM_B", "credentials", "must be exactly one of"),
        ({"env": "TEAM-B"}, "credentials.env", "environment variable name"),
        ({"env": "T", "sectoin": "x"}, "credentials.sectoin", "unknown key"),
        ({"profile": "p", "sectoin": "x"}, "credentials.sectoin", "did you mean section?"),
        ({"iam": {"user": "a", "domain": "d"}}, "credentials.iam", "needs passwordEnv"),
        (
            {"iam": {"user": "a", "userEnv": "U", "passwordEnv": "P", "domain": "d"}},
            "credentials.iam",
            "needs exactly one of user and userEnv",
        ),
        (
            {"iam": {"user": "a", "passwordEnv": "P", "domain": "d", "endpoint": "iam.x"}},
            "credentials.iam.endpoint",
            "must be an http:// or https:// URL",
        ),
        (
            {"iam": {"user": "a", "passwordEnv": "P", "domain": "d", "scope": "global"}},
            "credentials.iam.scope",
            "must be project or region",
        ),
        (
            {"iam": {"user": "a", "password": "pw", "domain": "d"}},
            "credentials.iam.password",
            "holds a literal secret",
        ),
    ],
)
def test_bad_entries_are_located_and_explained(value: object, location: str, message: str) -> None:
    """A malformed entry raises ManifestError with a located problem that says what to do."""
    with pytest.raises(ManifestError) as caught:
        parse_credentials_entry(value)

    assert any(p.location == location and message in p.message for p in caught.value.problems), (
        caught.value.problems
    )


# ---- literal secrets in a manifest -------------------------------------------------------


def test_literal_secrets_are_found_anywhere_and_never_repeated() -> None:
    """sk, password, token and security tokens are found at any depth; values never echoed."""
    manifest = {
        "credentials": {"env": "OK", "sk": SK},
        "projects": [
            {"id": "p", "credentials": {"iam": {"password": PASSWORD, "passwordEnv": "PW"}}},
            {"id": "q", "defaults": {"spec": {"token": TOKEN, "securityToken": TOKEN}}},
            {"id": "r", "security_token": TOKEN, "Password": 12345},
        ],
    }

    problems = literal_secret_problems(manifest)

    assert [p.location for p in problems] == [
        "credentials.sk",
        "projects[0].credentials.iam.password",
        "projects[1].defaults.spec.token",
        "projects[1].defaults.spec.securityToken",
        "projects[2].security_token",
        "projects[2].Password",
    ]
    assert all("holds a literal secret" in p.message for p in problems)
    text = " ".join(str(p) for p in problems)
    assert all(secret not in text for secret in (SK, PASSWORD, TOKEN, "12345"))


def test_literal_secret_messages_say_how_to_move_each_kind() -> None:
    """Each kind of secret gets the fix that applies to it."""
    problems = literal_secret_problems({"sk": "x", "password": "y", "token": "z"})

    assert "PREFIX_SK" in problems[0].message
    assert "passwordEnv" in problems[1].message
    assert "BATCHCREATE_TOKEN" in problems[2].message


def test_secret_names_without_values_are_fine() -> None:
    """Empty, null or boolean values and variable names (passwordEnv) are not secrets."""
    manifest = {
        "credentials": {"iam": {"user": "a", "passwordEnv": "PW", "domain": "d"}},
        "a": {"token": ""},
        "b": {"password": None},
        "c": [{"sk": True}],
    }

    assert literal_secret_problems(manifest) == []


def test_literal_secret_problems_take_a_prefix() -> None:
    """A prefix places the problems inside a larger document."""
    assert literal_secret_problems([{"sk": "x"}], "projects") == [
        Problem("projects[0].sk", literal_secret_problems({"sk": "x"})[0].message)
    ]


# ---- masking -----------------------------------------------------------------------------


def test_found_credentials_repr_masks_every_secret() -> None:
    """FoundCredentials and Secret show no secret in repr, str or f-strings."""
    found = FoundCredentials(
        CredentialKind.TEMPORARY_AKSK,
        "somewhere",
        ak="AKIDLONGVALUE",
        sk=Secret(SK),
        security_token=Secret(TOKEN),
    )

    text = f"{found!r} {found} {found.sk} {found.sk!r}"

    assert all(secret not in text for secret in (SK, TOKEN, "AKIDLONGVALUE"))
    assert repr(found) == (
        "FoundCredentials(kind='temporary ak/sk', source='somewhere', ak='AKID***', "
        "sk='***', security_token='***')"
    )
    assert found.secrets() == [SK, TOKEN]
    assert Secret(SK).reveal() == SK
