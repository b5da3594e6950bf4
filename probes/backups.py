"""What the backup checks read on the database host: listings and an integrity report, produced by
shell run there (gzip and pg_restore run on the host; files are never pulled).

Names: daily backups are `<prefix>YYYYmmdd_HHMMSS.<ext>`, monthly fulls `<prefix>YYYYmm.<ext>`,
configuration archives `config_YYYYmmdd_HHMMSS.tar.gz`; `<ext>` is `dump` (pg_dump -Fc, the
right layout), `sql.gz` (the manual's `pg_dump -F c | gzip`, or a gzipped plain dump) or `sql`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shlex
from dataclasses import dataclass

EXTENSIONS = r"(?:dump|sql\.gz|sql)"
CONFIG_NAME = re.compile(r"^config_(?P<stamp>\d{8}_\d{6})\.tar\.gz$")
CONFIG_GLOB = "config_*.tar.gz"

# Hex of the first five bytes: gzip, pg_dump custom format ("PGDMP"), plain SQL ("--").
GZIP_MAGIC = "1f8b"
CUSTOM_MAGIC = "5047444d50"
SQL_MAGIC = "2d2d"


def daily_name(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}(?P<stamp>\d{{8}}_\d{{6}})\.(?P<ext>{EXTENSIONS})$")


def monthly_name(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}(?P<stamp>\d{{6}})\.(?P<ext>{EXTENSIONS})$")


def stamp_time(stamp: str) -> dt.datetime | None:
    """The UTC time a name's stamp says (`20261201_020000` or `202612`), None if not a date."""
    for fmt in ("%Y%m%d_%H%M%S", "%Y%m"):
        try:
            return dt.datetime.strptime(stamp, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class BackupFile:
    name: str
    mtime: float  # seconds since the epoch
    size: int

    def age(self, now: float) -> float:
        return max(0.0, now - self.mtime)


def list_command(directory: str, glob: str) -> str:
    """Regular files directly in `directory` (symlinks and subfolders are never listed), with
    mtime and size, one per line; exit 3 when the folder does not exist."""
    d = shlex.quote(directory)
    return (
        "printf 'now\\t%s\\n' \"$(date +%s)\"; "
        f"test -d {d} || {{ echo 'no such directory' >&2; exit 3; }}; "
        f"find {d} -mindepth 1 -maxdepth 1 -type f -name {shlex.quote(glob)} -printf '%T@\\t%s\\t%f\\n'"
    )


def host_clock(output: str) -> float | None:
    """The host's own time (epoch seconds), printed first by `list_command`."""
    for line in output.splitlines():
        if line.startswith("now\t"):
            try:
                now = float(line.split("\t", 1)[1])
            except ValueError:
                return None
            return now if math.isfinite(now) else None
    return None


def parse_listing(output: str, pattern: re.Pattern[str]) -> list[BackupFile]:
    """Files whose name matches `pattern`, oldest first."""
    files = []
    for line in output.splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3 or not pattern.match(parts[2]):
            continue
        try:
            mtime, size = float(parts[0]), int(parts[1])
        except ValueError:
            continue
        if math.isfinite(mtime):  # a NaN or infinite mtime would make the file's age 0
            files.append(BackupFile(parts[2], mtime, size))
    return sorted(files, key=lambda f: (f.mtime, f.name))


_PG_RESTORE = (
    "PG_RESTORE=$(command -v pg_restore"
    " || ls -1 /usr/lib/postgresql/*/bin/pg_restore 2>/dev/null | sort -V | tail -n1); "
)


# Prints `outer=` (the file's first bytes) and `inner=` (the first bytes inside gzip, if gzipped);
# sets $gz. Reads 5 bytes of the file, or of its decompressed start: never the whole backup.
_LAYOUT = (
    'outer=$(od -An -tx1 -N5 "$f" | tr -d \' \\n\'); echo "outer=$outer"; gz=0; inner=$outer; '
    f"case $outer in {GZIP_MAGIC}*) gz=1; "
    "inner=$(gzip -dc \"$f\" 2>/dev/null | head -c 5 | od -An -tx1 | tr -d ' \\n');; esac; "
    'echo "inner=$inner"; '
)


def layout_command(path: str) -> str:
    """`outer=`/`inner=` lines: how the backup at `path` was written, from its first bytes only."""
    return f"bash -c {shlex.quote(f'f={shlex.quote(path)}; ' + _LAYOUT)}"


def parse_layout(output: str) -> tuple[str, bool]:
    """(format: custom | plain | unknown, gzipped) from `layout_command`'s or `integrity_command`'s output."""
    values = dict(line.partition("=")[::2] for line in output.splitlines() if "=" in line)
    inner = values.get("inner", "").strip()
    fmt = "custom" if inner == CUSTOM_MAGIC else "plain" if inner.startswith(SQL_MAGIC) else "unknown"
    return fmt, values.get("outer", "").strip().startswith(GZIP_MAGIC)


def integrity_command(path: str) -> str:
    """A report of `key=value` lines about the backup at `path` (see `parse_integrity`).

    gzip -t checks the CRC only; `pg_restore --list` reads only the table of contents; so a
    custom-format archive is also read to the end (`pg_restore -f /dev/null`), which decompresses
    every data block and finds a truncated archive. A plain dump must end with pg_dump's
    "dump complete" trailer.
    """
    f = shlex.quote(path)
    script = (
        "set -o pipefail; "
        f"f={f}; {_PG_RESTORE}"
        'size=$(stat -c %s "$f") || exit 3; echo "size=$size"; '
        '[ "$size" -gt 0 ] || exit 0; '
        + _LAYOUT
        + 'if [ "$gz" = 1 ]; then err=$(gzip -t "$f" 2>&1); echo "gzip_rc=$?"; '
        'printf "gzip_err=%s\\n" "$(printf "%s" "$err" | grep -m1 .)"; fi; '
        'src() { if [ "$gz" = 1 ]; then gzip -dc "$f"; else cat "$f"; fi; }; '
        f"case $inner in {CUSTOM_MAGIC}) "
        '[ -n "$PG_RESTORE" ] || { echo "pg_restore=missing"; echo done=1; exit 0; }; '
        # pg_restore --list stops reading after the table of contents: gzip's SIGPIPE is no error
        'if [ "$gz" = 1 ]; then list=$( { gzip -dc "$f" 2>/dev/null || true; } | "$PG_RESTORE" --list 2>&1); '
        'else list=$("$PG_RESTORE" --list "$f" 2>&1); fi; echo "list_rc=$?"; '
        "echo \"entries=$(printf '%s\\n' \"$list\" | grep -c -v -e '^;' -e '^$' -e '^pg_restore:')\"; "
        "echo \"table_data=$(printf '%s\\n' \"$list\" | grep -c ' TABLE DATA ')\"; "
        "printf '%s\\n' \"$list\" | grep -m1 '^pg_restore:' | sed 's/^/list_err=/'; "
        'if [ "$gz" = 1 ]; then err=$(gzip -dc "$f" 2>/dev/null | "$PG_RESTORE" -f /dev/null 2>&1); '
        'else err=$("$PG_RESTORE" -f /dev/null "$f" 2>&1); fi; echo "read_rc=$?"; '
        "printf '%s\\n' \"$err\" | grep -m1 . | sed 's/^/read_err=/';; "
        f"{SQL_MAGIC}*) "
        "echo \"sql_header=$(src 2>/dev/null | head -c 200 | grep -c 'PostgreSQL database dump')\"; "
        "echo \"sql_complete=$(src 2>/dev/null | tail -c 256 | grep -c 'PostgreSQL database dump complete')\";; "
        "esac; echo done=1"
    )
    return f"bash -c {shlex.quote(script)}"


@dataclass(frozen=True)
class Integrity:
    """What `integrity_command` found about one backup."""

    size: int
    gzipped: bool
    format: str  # custom | plain | unknown | empty
    gzip_error: str | None = None  # None: gzip -t passed (or not gzipped)
    list_error: str | None = None  # pg_restore --list failed
    read_error: str | None = None  # pg_restore could not read the archive to its end
    entries: int = 0
    table_data: int = 0
    sql_complete: bool = False
    pg_restore_missing: bool = False

    @property
    def layout(self) -> str:
        """Which way the backup was written, in the report's words."""
        if self.format == "custom" and self.gzipped:
            return (
                "pg_dump -F c piped through gzip (the manual's layout): double-compressed (custom format is "
                "already compressed), and an archive written to a pipe has no data offsets, so parallel or "
                "selective pg_restore (-j, -t) cannot use it; restore with gunzip | pg_restore, or switch to "
                "pg_dump -Fc -f <file>.dump"
            )
        if self.format == "custom":
            return "pg_dump -Fc custom format written to a file (.dump)"
        if self.format == "plain":
            return "plain SQL" + (", gzipped" if self.gzipped else "")
        return self.format


def integrity_problem(found: Integrity) -> str | None:
    """Why the backup `found` describes cannot be restored, in one phrase; None when it is sound.
    Both integrity checks (daily and monthly) and run_backup's own verification judge by it."""
    if found.format == "empty":
        return "empty (0 bytes)"
    if found.gzip_error:
        return f"gzip -t failed: {found.gzip_error}"
    if found.format == "unknown":
        return "neither a pg_dump archive nor SQL"
    if found.format == "custom":
        if found.list_error:
            return f"pg_restore --list cannot read it: {found.list_error}"
        if found.read_error:
            return f"pg_restore cannot read it to the end: {found.read_error}"
        return None
    if not found.sql_complete:
        return "plain SQL without pg_dump's 'dump complete' trailer (truncated, or pg_dump failed)"
    return None


def parse_integrity(output: str) -> Integrity:
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key not in values:
            values[key] = value.strip()
    if "size" not in values:
        raise ValueError("no size in the integrity report")
    size = int(values["size"])
    if size == 0:
        return Integrity(size=0, gzipped=False, format="empty")
    if values.get("done") != "1":  # killed or failed midway: what it read proves nothing
        raise ValueError("the integrity report stopped before its end")
    fmt, gzipped = parse_layout(output)
    gzip_error = None
    if gzipped and values.get("gzip_rc", "0") != "0":
        gzip_error = values.get("gzip_err") or f"gzip -t exit {values.get('gzip_rc')}"
    list_error = read_error = None
    if fmt == "custom" and "list_rc" in values and values["list_rc"] != "0":
        list_error = values.get("list_err") or f"pg_restore --list exit {values['list_rc']}"
    if fmt == "custom" and "read_rc" in values and values["read_rc"] != "0":
        read_error = values.get("read_err") or f"pg_restore exit {values['read_rc']}"
    return Integrity(
        size=size,
        gzipped=gzipped,
        format=fmt,
        gzip_error=gzip_error,
        list_error=list_error,
        read_error=read_error,
        entries=int(values.get("entries", "0") or 0),
        table_data=int(values.get("table_data", "0") or 0),
        sql_complete=values.get("sql_complete", "0") not in ("", "0"),
        pg_restore_missing=values.get("pg_restore") == "missing",
    )


def tar_list_command(path: str) -> str:
    """Member names of a .tar.gz, one per line."""
    return f"tar -tzf {shlex.quote(path)}"


def missing_members(listing: str, wanted: list[str]) -> list[str]:
    """The files of `wanted` not in a tar listing (tar strips the leading '/')."""
    members = {line.strip().lstrip("./").lstrip("/") for line in listing.splitlines() if line.strip()}
    return [w for w in wanted if w.lstrip("/") not in members]


def sha256_command(path: str) -> str:
    return f"sha256sum {shlex.quote(path)} | cut -d' ' -f1"


def first_sunday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(6 - first.weekday()) % 7)


def monthly_due(today: dt.date) -> str:
    """The month (YYYYmm) whose monthly full must exist today: the manual takes it on the first
    Sunday, so until that day has passed the previous month's is the one expected."""
    if today > first_sunday(today.year, today.month):
        return f"{today:%Y%m}"
    previous = today.replace(day=1) - dt.timedelta(days=1)
    return f"{previous:%Y%m}"
