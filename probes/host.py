"""What the host checks read, parsed from commands run on the host (Linux)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from sergas.status import unknown

# Pseudo and always-full filesystems: tmpfs and devtmpfs are RAM, squashfs images are 100% by
# design, overlay layers duplicate the filesystem under them (`df -h | grep /dev/` gets this wrong).
DF_COMMAND = (
    "LC_ALL=C df -B1 -x tmpfs -x devtmpfs -x squashfs -x overlay -x efivarfs "
    "--output=fstype,size,used,avail,itotal,iused,iavail,target"
)


@dataclass(frozen=True)
class Mount:
    target: str
    fstype: str
    size: int
    used: int
    avail: int
    inodes_total: int
    inodes_used: int

    @property
    def used_pct(self) -> float:
        """As df's Use%: used / (used + available), the root reserve counted as unavailable."""
        usable = self.used + self.avail
        return 100.0 * self.used / usable if usable else 0.0

    @property
    def inodes_pct(self) -> float | None:
        return 100.0 * self.inodes_used / self.inodes_total if self.inodes_total else None


def parse_df(output: str) -> list[Mount]:
    mounts = []
    for line in output.splitlines()[1:]:
        fields = line.split(None, 7)
        if len(fields) < 8 or not all(map(_is_count, fields[1:4])):
            continue
        fstype, size, used, avail, itotal, iused, _iavail, target = fields
        if int(size) == 0:
            continue
        mounts.append(Mount(target, fstype, int(size), int(used), int(avail), _int(itotal), _int(iused)))
    return mounts


def _is_count(text: str) -> bool:
    """A size or count as df and ps print them: ASCII digits, 64-bit (str.isdigit() alone takes `²`)."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def _int(text: str) -> int:
    return int(text) if _is_count(text) else 0


@dataclass(frozen=True)
class Memory:
    total_kib: int
    available_kib: int
    swap_total_kib: int
    swap_free_kib: int

    @property
    def available_pct(self) -> float:
        return 100.0 * self.available_kib / self.total_kib

    @property
    def swap_used_pct(self) -> float | None:
        if not self.swap_total_kib:
            return None
        return 100.0 * (self.swap_total_kib - self.swap_free_kib) / self.swap_total_kib


def parse_meminfo(text: str) -> Memory:
    """/proc/meminfo (values in kB, which are KiB). MemAvailable is the kernel's own estimate."""
    values = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+):\s+(\d{1,20})\b", text, re.MULTILINE)}
    if "MemAvailable" not in values:
        raise ValueError("no MemAvailable in /proc/meminfo (kernel older than 3.14?)")
    if not values.get("MemTotal"):
        raise ValueError("no MemTotal in /proc/meminfo")
    return Memory(values["MemTotal"], values["MemAvailable"], values.get("SwapTotal", 0), values.get("SwapFree", 0))


def pgrep_pattern(text: str) -> str:
    """A pgrep -f regex matching `text` literally but not the shell that runs pgrep: its first
    letter or digit goes in brackets (`/usr/bin/[s]ergas`), so the pattern as written in that
    shell's own command line does not match itself."""

    def escape(part: str) -> str:
        return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", part)

    for i, char in enumerate(text):
        if char.isalnum():
            return f"{escape(text[:i])}[{char}]{escape(text[i + 1 :])}"
    raise ValueError(f"cannot match {text!r} as a process: it has no letter or digit")


@dataclass(frozen=True)
class Process:
    pid: int
    elapsed_s: int
    command: str


def parse_ps(output: str) -> list[Process]:
    """`ps -o pid=,etimes=,args=` lines."""
    found = []
    for line in output.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and _is_count(fields[0]) and _is_count(fields[1]):
            found.append(Process(int(fields[0]), int(fields[1]), fields[2]))
    return found


def parse_systemctl_show(output: str) -> dict[str, str]:
    """`systemctl show -p A,B unit` prints `A=value` lines (in its own order, not the asked one)."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


@dataclass(frozen=True)
class OldFile:
    name: str
    size: int
    age_days: float


def old_logs_command(directory: str, retention_days: int) -> str:
    """Regular files (never symlinks: find does not follow them) named *.log or *.log.N[.gz]
    directly in `directory`, older than the retention: `<age seconds> <size> <name>` lines."""
    return (
        f"find {shlex.quote(directory)}/ -maxdepth 1 -type f \\( -name '*.log' -o -name '*.log.[0-9]*' \\)"
        f" -mtime +{retention_days - 1} -printf '%T@ %s %f\\n'"
    )


_OLD_LOG = re.compile(r"([0-9]+(?:\.[0-9]*)?) ([0-9]{1,20}) (.+)")


def parse_old_logs(output: str, now: float) -> list[OldFile]:
    """`old_logs_command`'s lines; unknown (CheckOutcome) at a line that is not one, such as the
    rest of a file name holding a newline."""
    found = []
    for line in output.splitlines():
        parsed = _OLD_LOG.fullmatch(line)
        if parsed is None:
            raise unknown(f"cannot read find's line {line[:80]!r}")
        mtime, size, name = parsed.groups()
        found.append(OldFile(name, int(size), (now - float(mtime)) / 86400))
    return sorted(found, key=lambda f: -f.age_days)
