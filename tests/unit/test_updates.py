"""probes.updates: check_apt's reading of `apt-get -s upgrade`, dnf's advisory list, the survey
of the package manager (its shell script run here against a private apt configuration), and
the `[updates]` section."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from probes.updates import (
    Pending,
    Survey,
    brief,
    parse_apt_upgrade,
    parse_dnf_updateinfo,
    pending_command,
    read_pending,
    survey_command,
)
from sergas.config import ConfigError, Secrets, UpdatesConfig, parse
from sergas.status import CheckOutcome, Status

# `apt-get -s -qq upgrade` lines as apt prints them: Debian's (bookworm) and Ubuntu's (trusty).
APT_OUTPUT = """\
Inst base-files [12.4+deb12u4] (12.4+deb12u5 Debian:12.5/stable [amd64])
Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64]) []
Inst openssl [3.0.11-1~deb12u2] (3.0.13-1~deb12u1 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
Inst dpkg [1.17.5ubuntu5.3] (1.17.5ubuntu5.4 Ubuntu:14.04/trusty-updates [amd64])
Inst ntpdate [1:4.2.6.p5+dfsg-3ubuntu2.14.04.2] (1:4.2.6.p5+dfsg-3ubuntu2.14.04.3 Ubuntu:14.04/trusty-security [amd64])
Conf libc6 (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])
Conf base-files (12.4+deb12u5 Debian:12.5/stable [amd64])
Remv oldpkg [1.0]
"""


def test_apt_lines_are_judged_with_check_apts_regex() -> None:
    security, other = parse_apt_upgrade(APT_OUTPUT)
    assert security == ("libc6", "openssl", "ntpdate")  # from a security archive, alone or among others
    assert other == ("base-files", "dpkg")  # Conf and Remv lines are not upgrades
    assert parse_apt_upgrade("") == ((), ())


def test_security_is_read_from_the_origin_not_the_name() -> None:
    line = "Inst debian-security-support [1:12+2024.01.01] (1:12+2024.06.01 Debian:12.6/stable [all])\n"
    assert parse_apt_upgrade(line) == ((), ("debian-security-support",))


def dnf_list(*rows: tuple[str, str, str]) -> str:
    """Rows as dnf 4's UpdateInfoCommand.display_list prints them: '%-*s %-*s %s' % (idw, id, tlw, type, nevra)."""
    idw, tlw = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    return "".join(f"{advisory:<{idw}} {kind:<{tlw}} {nevra}\n" for advisory, kind, nevra in rows)


def test_dnf_security_advisories_by_severity_label() -> None:
    output = dnf_list(
        ("RHSA-2024:1234", "Important/Sec.", "openssl-libs-1:3.0.7-25.el9_3.x86_64"),
        ("RHSA-2024:1240", "Unknown/Sec.", "curl-7.76.1-29.el9_4.x86_64"),
        ("RHBA-2024:1111", "bugfix", "openssl-libs-1:3.0.7-25.el9_3.x86_64"),  # also a security update
        ("RHBA-2024:1200", "bugfix", "NetworkManager-1:1.46.0-8.el9_4.x86_64"),
        ("RHEA-2024:1300", "enhancement", "tzdata-2024a-1.el9.noarch"),
    )
    assert parse_dnf_updateinfo(output) == (("curl", "openssl-libs"), ("NetworkManager", "tzdata"))
    assert parse_dnf_updateinfo("") == ((), ())


@pytest.mark.parametrize(
    "line",
    [
        "Name            Type     Severity  Package                    Issued",  # dnf 5's table
        "Updating Subscription Management repositories.",
        "RHSA-2024:1234 Important/Sec. openssl",  # no version-release in the NEVRA
    ],
)
def test_dnf_output_of_another_shape_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="not an advisory line"):
        parse_dnf_updateinfo(line + "\n")


def outcome(raised: pytest.ExceptionInfo[CheckOutcome]) -> tuple[Status, str]:
    return raised.value.status, raised.value.message


def test_failing_command_is_unknown_with_apts_error_line() -> None:
    err = "W: Unable to read /x - RealFileExists (2: No such file or directory)\nE: Could not open file /x/status\n"
    with pytest.raises(CheckOutcome) as raised:
        read_pending("apt", 100, "", err)
    assert outcome(raised) == (Status.UNKNOWN, "apt-get -s upgrade failed (exit 100): E: Could not open file /x/status")


def test_warnings_on_stderr_are_kept_and_unreadable_dnf_is_unknown() -> None:
    pending = read_pending("apt", 0, APT_OUTPUT, "W: Target Packages is configured multiple times\n")
    assert pending.warning == "apt-get -s upgrade warned: W: Target Packages is configured multiple times"
    assert read_pending("apt", 0, "", "").warning is None
    with pytest.raises(CheckOutcome) as raised:
        read_pending("dnf", 0, "Name Type Severity Package Issued\n", "")
    assert outcome(raised) == (
        Status.UNKNOWN,
        "cannot read dnf updateinfo list: not an advisory line (ID TYPE NEVRA): 'Name Type Severity Package Issued'",
    )


def test_listing_and_brief() -> None:
    pending = Pending(("openssl", "libc6"), ("dpkg",))
    assert pending.listing() == "libc6 (security)\nopenssl (security)\ndpkg"
    assert Pending((), ()).listing() == "no upgrades pending"
    assert brief(tuple("gfedcba")) == "a, b, c, d, e +2 more"


@pytest.mark.parametrize(
    ("rc", "out", "err", "message"),
    [
        (
            3,
            "",
            "cannot read APT_CONFIG /etc/x.conf\n",
            "cannot survey the package manager (exit 3): cannot read APT_CONFIG /etc/x.conf",
        ),
        (0, "manager=none\n", "", "neither apt-get nor dnf on the host: its pending updates cannot be read"),
        (0, "Welcome to app1\n", "", "unexpected package manager survey: Welcome to app1"),
        (
            0,
            "manager=apt\nlists=/l/\nnewest=soon\nnow=1\n",
            "",
            "unexpected time in the package manager survey: 'soon'",
        ),
    ],
    ids=["failed", "neither", "other-output", "bad-time"],
)
def test_survey_failures_are_unknown(rc: int, out: str, err: str, message: str) -> None:
    with pytest.raises(CheckOutcome) as raised:
        Survey.parse(rc, out, err)
    assert outcome(raised) == (Status.UNKNOWN, message)


def test_survey_answers() -> None:
    assert Survey.parse(0, "manager=dnf\n", "") == Survey("dnf")
    apt = Survey.parse(0, "manager=apt\nlists=/var/lib/apt/lists/\nnewest=1000.5\nnow=4600\n", "")
    assert apt.lists_age() == 3599.5
    never = Survey.parse(0, "manager=apt\nlists=/var/lib/apt/lists/\nnewest=\nnow=4600\n", "")
    with pytest.raises(CheckOutcome) as raised:
        never.lists_age()
    assert outcome(raised) == (Status.UNKNOWN, "apt has no package lists in /var/lib/apt/lists/, run apt-get update")


def test_commands_quote_the_apt_config() -> None:
    assert pending_command("apt", None) == "export LC_ALL=C; apt-get -s -qq -o Debug::NoLocking=true upgrade"
    assert pending_command("apt", "/etc/my apt.conf").startswith("export LC_ALL=C APT_CONFIG='/etc/my apt.conf'; ")
    assert pending_command("dnf", None) == "export LC_ALL=C; dnf -q updateinfo list --available"


@pytest.mark.skipif(shutil.which("apt-config") is None, reason="no apt-config here")
def test_survey_reads_the_newest_list_of_apts_own_lists_folder(tmp_path: Path) -> None:
    """The survey script, run here: apt-config names the lists folder (the private one); the
    lock file, folders and partial downloads do not count; a link counts by its own mtime."""
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    config = tmp_path / "apt.conf"
    config.write_text(f'Dir::State::lists "{lists}";\nDir::Etc::main "/dev/null";\nDir::Etc::parts "{tmp_path}";\n')
    release, packages, lock = lists / "x_Release", lists / "x_Packages", lists / "lock"
    release.write_text("Origin: Debian\n")
    packages.symlink_to(tmp_path / "elsewhere")  # apt links file: repositories' indexes
    lock.touch()
    (lists / "partial" / "x_InRelease").touch()
    for path, mtime in ((release, 1000), (packages, 2000), (lock, 9000), (lists / "partial", 9000)):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    done = subprocess.run(["sh", "-c", survey_command(str(config))], capture_output=True, text=True, check=False)
    survey = Survey.parse(done.returncode, done.stdout, done.stderr)
    assert (survey.manager, survey.lists, survey.newest) == ("apt", f"{lists}/", 2000)

    missing = subprocess.run(
        ["sh", "-c", survey_command(str(tmp_path / "none.conf"))], capture_output=True, text=True, check=False
    )
    with pytest.raises(CheckOutcome, match=f"exit 3\\): cannot read APT_CONFIG {tmp_path}/none.conf"):
        Survey.parse(missing.returncode, missing.stdout, missing.stderr)


def updates(**section: object) -> UpdatesConfig:
    env = parse({"name": "t", "updates": section}, Path("t.toml"), Secrets(), environ={})
    assert env.updates is not None
    return env.updates


def test_updates_section() -> None:
    assert updates() == UpdatesConfig(other_updates="warning", max_lists_age=7 * 86400, apt_config=None)
    assert updates(max_lists_age="36h", other_updates="ignore").max_lists_age == 36 * 3600
    assert parse({"name": "t"}, Path("t.toml"), Secrets(), environ={}).updates is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"other_updates": "never"},
            "t.toml: updates.other_updates: Input should be 'critical', 'warning' or 'ignore'",
        ),
        ({"max_lists_age": "0d"}, "t.toml: updates.max_lists_age: Input should be greater than 0"),
        ({"max_lists_age": "7 days"}, "t.toml: updates.max_lists_age: Value error, unknown unit 'days' in '7 days'"),
    ],
    ids=["policy", "zero-age", "no-unit"],
)
def test_updates_section_refusals(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        updates(**section)
    assert str(raised.value).startswith(message), raised.value
