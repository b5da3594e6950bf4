"""Log review, counted on the host: one shell command per host and check, its output parsed here.

The command lists the log files (the live file and its rotations `<file>.N`, `<file>.N.gz`,
`<file>-DATE[.gz]`), skips those last written before the window (mtime), and pipes each one
through `LC_ALL=C grep` (a prefilter: only candidate lines leave grep) into one awk program
(POSIX awk: mawk or gawk) that holds them against the window and counts. For journald,
`journalctl -u UNIT --since @EPOCH` windows by the journal's own timestamps and feeds the same
prefilter and awk. Only counts, a few aggregates and five sample lines come back.

The window: the awk program parses each candidate line's timestamp (ISO 8601 as Python's
logging, structlog and uvicorn write it, with or without zone, `,` or `.` fractions; JSON
lines' `timestamp`/`time`/`ts` fields; syslog's `Mon DD HH:MM:SS`) until the first line inside
the window; files are appended in time order, so the rest of that file is inside too (and lines
without a timestamp, such as traceback continuations, belong where they stand). A timestamp
without zone is the host's local time (`date +%z`); syslog's year is the current one.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Literal

# What the app logs once it has read its configuration (app.config_loaded looks for it).
CONFIG_LOADED = "Configuration loaded"

Mode = Literal["errors", "http", "auth", "circuit", "slow", "pgslow", "config"]

# What leaves grep for each mode; awk decides. One fixed string where possible: GNU grep
# searches a single string several times faster than two (see BENCHMARKS.md), so for plain
# text logs the error levels are two single-string greps run side by side, merged by offset.
PREFILTER: dict[Mode, str] = {
    "errors": "-i -e error -e critical",
    "http": "-F -e status_code",
    "auth": "-F -e 'authentication failed'",
    "circuit": "-e 'circuit.*open'",
    "slow": "-F -e duration=",
    "pgslow": "-F -e 'duration: '",
    "config": f"-F -e {shlex.quote(CONFIG_LOADED)}",
}
# A log whose first 64 KiB name levels as `level=`/`"level":`/`severity` may write them in lower case.
_STRUCTURED = "LC_ALL=C grep -q -i -e 'level[\" ]*[=:]' -e severity"
_ERRORS_FAST = (
    '{ LC_ALL=C grep -ab --line-buffered -F -e ERROR -- "$f" & '
    'LC_ALL=C grep -ab --line-buffered -F -e CRITICAL -- "$f"; wait; } | LC_ALL=C sort -t: -k1,1n -u'
)

AWK_PROGRAM = r"""
function tzsec(z,   sg) {
  sg = (substr(z, 1, 1) == "-") ? -1 : 1
  gsub(/[^0-9]/, "", z)
  return sg * (substr(z, 1, 2) * 3600 + substr(z, 3, 2) * 60)
}
function days(y, m, d,   era, yoe, doy, doe) {
  if (m <= 2) y--
  era = int(y / 400); yoe = y - era * 400
  doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
  doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
  return era * 146097 + doe - 719468
}
function jget(s, keys,   v) {
  if (!match(s, "\"(" keys ")\"[ \t]*:[ \t]*(\"[^\"]*\"|[0-9.]+)")) return ""
  v = substr(s, RSTART, RLENGTH)
  sub(/^"[^"]*"[ \t]*:[ \t]*/, "", v)
  gsub(/"/, "", v)
  return v
}
function tsof(s,   t, r, m, y, i, v) {
  if (substr(s, 1, 1) == "[") s = substr(s, 2)
  if (s ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]/) {
    t = days(substr(s, 1, 4) + 0, substr(s, 6, 2) + 0, substr(s, 9, 2) + 0) * 86400 \
        + substr(s, 12, 2) * 3600 + substr(s, 15, 2) * 60 + substr(s, 18, 2)
    r = substr(s, 20)
    if (r ~ /^[.,][0-9]/) sub(/^[.,][0-9]+/, "", r)
    if (r ~ /^Z/ || r ~ /^ (UTC|GMT)/) return t
    if (r ~ /^ ?[+-][0-9][0-9]:?[0-9][0-9]/) { sub(/^ /, "", r); return t - tzsec(substr(r, 1, 6)) }
    return t - tz
  }
  if (s ~ /^[A-Z][a-z][a-z] [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/) {
    m = (index("JanFebMarAprMayJunJulAugSepOctNovDec", substr(s, 1, 3)) + 2) / 3
    if (m < 1 || m != int(m)) return -1
    r = substr(s, 8, 2) * 3600 + substr(s, 11, 2) * 60 + substr(s, 14, 2) - tz
    t = days(year, m, substr(s, 5, 2) + 0) * 86400 + r
    if (t > now + 86400) t = days(year - 1, m, substr(s, 5, 2) + 0) * 86400 + r  # December's lines in January
    return t
  }
  i = index(s, "{\"")
  if (i) {
    v = jget(substr(s, i), "timestamp|@timestamp|time|asctime|ts")
    if (v ~ /^[0-9]+(\.[0-9]+)?$/) return (v > 100000000000) ? v / 1000 : v + 0
    if (v != "") return tsof(v)
  }
  return -1
}
# The level of a line, and in LI the field after it (where logger and message start).
function levelof(s,   i, n, f, v) {
  LI = 0
  i = index(s, "{\"")
  if (i) {
    v = jget(substr(s, i), "level|levelname|severity|log\\.level")
    if (v != "") { JS = substr(s, i); return toupper(v) }
  }
  JS = ""
  n = split(s, F, " ")
  for (i = 1; i <= n && i <= 12; i++) {
    f = toupper(F[i])
    if (f ~ /^(LEVEL|SEVERITY|LVL)=/) { sub(/^[A-Z]+=/, "", f); gsub(/[^A-Z]/, "", f); LI = i + 1; return f }
    gsub(/^[^A-Z]+/, "", f); gsub(/[^A-Z]+$/, "", f)
    if (f in LEVELS) { LI = i + 1; return f }
  }
  return ""
}
# Logger and message, numbers masked: what groups lines into kinds.
function kindof(s,   k, i, n, w) {
  if (JS != "") k = jget(JS, "logger|name|logger_name") " " jget(JS, "event|message|msg")
  else if (LI > 0) { k = ""; for (i = LI; i <= NF; i++) k = k (i > LI ? " " : "") $i }
  else k = s
  n = split(k, W, " "); k = ""
  for (i = 1; i <= n; i++) {
    w = W[i]
    if (w ~ /[0-9]/ && w !~ /=\//) w = (w ~ /=/) ? substr(w, 1, index(w, "=")) "N" : "N"
    k = k (i > 1 ? " " : "") w
  }
  return substr(k, 1, 120)
}
function field(s, key,   v) {
  if (!match(s, key "[=:\" ]+[^ \",}]+")) return ""
  v = substr(s, RSTART, RLENGTH)
  sub("^" key "[=:\" ]+", "", v)
  return v
}
function keep(s) { S[ns % 5] = substr(s, 1, 300); ns++ }
function add(k, n) {
  if (!(k in K)) { if (nk >= 200) k = "(other kinds)"; else nk++ }
  K[k] += n
}
BEGIN {
  split("DEBUG INFO NOTICE WARN WARNING ERROR ERR CRITICAL CRIT FATAL ALERT EMERG PANIC LOG", L, " ")
  for (i in L) LEVELS[L[i]] = 1
  tz = tzsec(tz)
  count = 0; total = 0; untimed = 0; timed = 0; maxv = 0; ns = 0; nk = 0; np = 0
}
/^\036/ { inwin = 0; print substr($0, 2); next }
{
  if (offsets) sub(/^[0-9]+:/, "")
  if (!inwin) {
    t = tsof($0)
    if (t < 0) { untimed++; next }
    timed++
    if (t < since) next
    inwin = 1
  }
  if (mode == "errors") {
    lv = levelof($0)
    if (lv == "ERROR" || lv == "ERR" || lv == "CRITICAL" || lv == "CRIT" || lv == "FATAL") {
      count++; add(kindof($0), 1); keep($0)
    }
  } else if (mode == "config") {
    count++; keep($0)
  } else if (mode == "auth" || mode == "circuit") {
    if (mode == "circuit" && tolower($0) ~ /half.open/) next
    levelof($0); count++; add(kindof($0), 1); keep($0)
  } else if (mode == "http") {
    code = field($0, "status_code")
    if (code !~ /^[0-9][0-9][0-9]$/) next
    total++
    if (code ~ /^5/) { count++; add(field($0, "path") " " code, 1); keep($0) }
  } else if (mode == "slow") {
    d = field($0, "duration")
    if (d !~ /^[0-9.]+$/) next
    total++; p = field($0, "path"); if (p == "") p = "(no path)"
    if (!(p in P)) { if (np >= 200) p = "(other paths)"; else np++ }
    P[p]++
    if (d + 0 > threshold) { count++; add(p, 1); keep($0); if (d + 0 > maxv) maxv = d + 0 }
  } else if (mode == "pgslow") {
    if (!match($0, /duration: [0-9.]+ ms/)) next
    d = substr($0, RSTART + 10, RLENGTH - 13) + 0
    total++
    if (d < threshold) next
    count++; keep($0); if (d > maxv) maxv = d
    st = $0
    if (!sub(/.*duration: [0-9.]+ ms +(statement|execute[^:]*|parse[^:]*|bind[^:]*): /, "", st))
      st = "(statement not logged)"
    gsub("\047[^\047]*\047", "?", st); gsub(/[0-9]+/, "N", st)
    add(substr(st, 1, 120), 1)
  }
}
END {
  print "count " count; print "total " total; print "untimed " untimed; print "timed " timed; print "max " maxv
  for (k in K) print "kind " K[k] " " k
  for (p in P) print "path " P[p] " " p
  first = (ns > 5) ? ns - 5 : 0
  for (i = first; i < ns; i++) print "sample " S[i % 5]
}
"""


def shell_glob(pattern: str) -> str:
    """A shell word that expands `pattern`'s glob characters and quotes everything else."""
    parts = re.split(r"([*?]|\[[^\]]*\])", pattern)
    return "".join(p if i % 2 else (shlex.quote(p) if p else "") for i, p in enumerate(parts))


def rotations(pattern: str) -> list[str]:
    """The live file and where logrotate puts its past: `.1`, `.2.gz`, `-20261201`, `-20261201.gz`."""
    word = shell_glob(pattern)
    return [word, f"{word}.[0-9]*", f"{word}-[0-9]*"]


@dataclass(frozen=True)
class FileSource:
    """Log files by path or glob (`files`), and the `*.log` files of folders (`dirs`)."""

    files: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()

    def describe(self) -> str:
        return ", ".join([*self.files, *(f"{d}/*.log" for d in self.dirs)])


@dataclass(frozen=True)
class JournalSource:
    """The systemd journal of one unit; `directory`/`files` read exported or remote journals."""

    unit: str
    directory: str | None = None
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f" in {self.directory}" if self.directory else (f" in {', '.join(self.files)}" if self.files else "")
        return f"journal of {self.unit}{where}"


Source = FileSource | JournalSource


def count_command(source: Source, mode: Mode, window_s: int, threshold: float = 0) -> str:
    """The one command that counts `mode` lines of the last `window_s` seconds on the host."""
    awk = (
        f'LC_ALL=C awk -v mode={mode} -v threshold={threshold:g} -v since="$since" -v now="$now" '
        f'-v tz="$(date +%z)" -v year="$(date +%Y)" {shlex.quote(AWK_PROGRAM)}'
    )
    grep = f"LC_ALL=C grep -a {PREFILTER[mode]}"
    head = f"now=$(date +%s); since=$((now - {int(window_s)})); "
    if isinstance(source, JournalSource):
        where = (f"--directory {shlex.quote(source.directory)} " if source.directory else "") + "".join(
            f"--file {shlex.quote(f)} " for f in source.files
        )
        journal = f"journalctl {where}-u {shlex.quote(source.unit)} --since @$since --no-pager -q"
        return head + (
            f"{{ printf '\\036journal %s\\n' \"$({journal} -n 1 -o short-iso-precise | tail -n 1)\"; "
            f"{journal} -o short-iso-precise | {grep}; }} | {awk}"
        )
    if mode == "errors":  # byte offsets (-b) keep the two greps' lines in file order
        grep = grep.replace("grep -a", "grep -ab", 1)
        plain = f'if head -c 65536 -- "$f" | {_STRUCTURED}; then {grep} -- "$f"; else {_ERRORS_FAST}; fi'
        awk = awk.replace("-v mode=", "-v offsets=1 -v mode=", 1)
    else:
        plain = f'{grep} -- "$f"'
    words = [w for f in source.files for w in rotations(f)]
    words += [w for d in source.dirs for w in rotations(d.rstrip("/") + "/*.log")]
    return head + (
        f'set --; for f in {" ".join(words)}; do [ -f "$f" ] && set -- "$@" "$f"; done; '
        "if [ $# -eq 0 ]; then printf '\\036nofiles\\n'; else "
        "stat -c '%Y %s %n' -- \"$@\" | sort -u | sort -n | while read -r m s f; do "
        'if [ "$m" -lt "$since" ]; then printf \'\\036skip %s %s %s\\n\' "$m" "$s" "$f"; continue; fi; '
        'printf \'\\036file %s %s %s\\n\' "$m" "$s" "$f"; '
        f'case "$f" in *.gz) gzip -dc -- "$f" | {grep};; *) {plain};; esac; '
        f"done; fi | {awk}"
    )


@dataclass(frozen=True)
class LogFile:
    path: str
    mtime: int
    size: int
    read: bool


@dataclass
class LogCount:
    """What the host counted: matches in the window, aggregates, samples, files read."""

    count: int = 0
    total: int = 0
    untimed: int = 0
    timed: int = 0
    max_value: float = 0.0
    kinds: list[tuple[int, str]] = field(default_factory=list)
    paths: list[tuple[int, str]] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    files: list[LogFile] = field(default_factory=list)
    journal_last: str | None = None
    no_files: bool = False
    complete: bool = False  # the END block ran: the counts are whole

    def top(self, n: int = 10, paths: bool = False) -> list[tuple[int, str]]:
        items = self.paths if paths else self.kinds
        return sorted(items, key=lambda kv: (-kv[0], kv[1]))[:n]

    @property
    def read_files(self) -> list[LogFile]:
        return [f for f in self.files if f.read]


_COUNT = re.compile(r"[0-9]{1,18}")  # as awk prints a count (str.isdigit() also takes `²`, int() does not)


def parse_count(output: str) -> LogCount:
    """The awk program's output (see AWK_PROGRAM's END block and the \\036 file markers).

    Not `complete` when the END block's lines are missing or garbled, or when no marker named
    the journal, the files read, or that there were none (the listing of the files failed)."""
    found = LogCount()
    numbers = {"count": "count", "total": "total", "untimed": "untimed", "timed": "timed"}
    garbled, named = False, False
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word in numbers and _COUNT.fullmatch(rest.strip().removeprefix("-")):
            setattr(found, numbers[word], int(rest.strip()))
            found.complete = found.complete or word == "count"
        elif word == "max":
            try:
                found.max_value = float(rest or 0)
            except ValueError:
                garbled = True
        elif word in ("kind", "path"):
            n, _, text = rest.partition(" ")
            if _COUNT.fullmatch(n):
                (found.kinds if word == "kind" else found.paths).append((int(n), text))
        elif word == "sample":
            found.samples.append(rest)
        elif word in ("file", "skip"):
            parts = rest.split(" ", 2)
            if len(parts) == 3 and _COUNT.fullmatch(parts[0]) and _COUNT.fullmatch(parts[1]):
                found.files.append(LogFile(parts[2], int(parts[0]), int(parts[1]), word == "file"))
                named = True
        elif word == "journal":
            found.journal_last = rest.strip() or None
            named = True
        elif word == "nofiles":
            found.no_files = named = True
    found.complete = found.complete and named and not garbled and not math.isnan(found.max_value)
    return found


def summarize_kinds(kinds: list[tuple[int, str]], n: int = 3) -> str:
    """`12x "sergas.zoho Zoho CRM request failed", 2x ...` for a one-line message."""
    return ", ".join(f"{count}x {text!r}" for count, text in kinds[:n])
