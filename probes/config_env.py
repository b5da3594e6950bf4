"""The app's environment file (`.env`): what it holds, by name only, and how it is judged.

`read_command` builds one host command that answers, per key asked about, whether the file
sets it (`present`), sets it to nothing (`empty`) or not at all (`missing`), plus the file's
owner, mode and kind (`stat`). The file is parsed on the host by an awk port of
python-dotenv's parser (the reader the app itself uses): `export KEY=`, single and double
quotes (over several lines), escaped quotes, `# comments`, `KEY= # comment` (empty), the
last assignment winning, a line it cannot parse skipped. Values never leave the host, except
those of the `numbers` keys asked for (pool sizes), and then only when they are whole numbers.
Not ported: `${VAR}` interpolation (a value made only of a reference counts as present) and
non-ASCII whitespace.

`judge` holds what was found (kind, owner, mode, key states) against what is expected; it
serves any source of the app's variables: a Compose env_file, a Kubernetes ConfigMap or Secret
(their own `kind` words; owner and mode None: not judged).
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from sergas.config import ENV_KEY_NAME
from sergas.status import Status

KEY_NAME = re.compile(ENV_KEY_NAME)
REGULAR_FILE = "regular file"
MOST_OPEN = 0o640  # owner read/write, group read: anything more (0o137) is too open
# The bits beyond MOST_OPEN, in the order a message names them.
_TOO_OPEN = (
    (0o100, "owner", "execute"),
    (0o020, "group", "write"),
    (0o010, "group", "execute"),
    (0o004, "others", "read"),
    (0o002, "others", "write"),
    (0o001, "others", "execute"),
)


class KeyState(enum.StrEnum):
    PRESENT = "present"  # set to a non-empty value
    EMPTY = "empty"  # `KEY=`, `KEY=""`, `KEY= # comment`, or a bare `KEY`
    MISSING = "missing"


_STATES = {s.value for s in KeyState}

# python-dotenv's parser (dotenv/parser.py), byte for byte in POSIX awk (mawk, gawk, busybox):
# the whole file is read, then parsed binding by binding from position p of s.
_PROGRAM = r"""
function ws(c) { return c != "" && index(" \t\f\v", c) > 0 }
function space(c) { return c != "" && index(" \t\f\v\r\n", c) > 0 }
function skip_ws() { while (ws(substr(s, p, 1))) p++ }
function to_eol(  c) { while (p <= n && (c = substr(s, p, 1)) != "\r" && c != "\n") p++ }
function skip_line(  c) { to_eol(); c = substr(s, p, 1); if (c == "\r" || c == "\n") p++ }
function quoted(q,   c, start) {
  start = ++p
  while (p <= n) {
    c = substr(s, p, 1)
    if (c == "\\" && p < n) { p += 2; continue }
    if (c == q) { val = substr(s, start, p - start); p++; return 1 }
    p++
  }
  p = start - 1
  return 0
}
function binding(   c, key, empty, start, k, eq) {
  while (space(substr(s, p, 1))) p++
  if (p > n) return
  if (substr(s, p, 6) == "export" && ws(substr(s, p + 6, 1))) { p += 6; skip_ws() }
  c = substr(s, p, 1); key = ""
  if (c == "'") {
    k = index(substr(s, p + 1), "'")
    if (k <= 1) { skip_line(); return }
    key = substr(s, p + 1, k - 1); p += k + 1
  } else if (c != "#") {
    start = p
    while (p <= n && (c = substr(s, p, 1)) != "=" && c != "#" && !space(c)) p++
    if (p == start) { skip_line(); return }
    key = substr(s, start, p - start)
  }
  skip_ws(); empty = 1; val = ""
  if (substr(s, p, 1) == "=") {
    eq = ++p; skip_ws(); c = substr(s, p, 1)
    if (c == "'" || c == "\"") {
      if (!quoted(c)) { skip_line(); return }
      empty = (val == "")
    } else if (!(c == "#" && p > eq) && c != "" && c != "\r" && c != "\n") {
      start = p; to_eol(); val = substr(s, start, p - start)
      sub(/[ \t\f\v]+#.*$/, "", val); sub(/[ \t\f\v]+$/, "", val); empty = 0
    }
  }
  k = p; while (ws(substr(s, k, 1))) k++
  if (substr(s, k, 1) == "#") { p = k; to_eol() }
  skip_ws(); c = substr(s, p, 1)
  if (c == "\r") { p++; if (substr(s, p, 1) == "\n") p++ }
  else if (c == "\n") p++
  else if (c != "") { skip_line(); return }
  if (key != "") { state[key] = empty ? "empty" : "present"; value[key] = val }
}
{ s = s $0 "\n" }
END {
  if (substr(s, 1, 3) == "\357\273\277") s = substr(s, 4)
  n = length(s); p = 1
  while (p <= n) binding()
  nk = split(keys, K, " ")
  for (i = 1; i <= nk; i++) print "key", K[i], (K[i] in state) ? state[K[i]] : "missing"
  nn = split(numbers, N, " ")
  for (i = 1; i <= nn; i++) {
    k = N[i]
    if ((k in state) && state[k] == "present") print "number", k, (value[k] ~ /^[0-9]+$/) ? value[k] : "invalid"
  }
}
"""


def read_command(path: str, keys: Sequence[str], numbers: Sequence[str] = ()) -> str:
    """The host command reading `path`: its stat line, then `key NAME STATE` per key of `keys`,
    and `number NAME DIGITS|invalid` for each key of `numbers` the file sets. Key names only
    go on the command line (they are not secret); values are never printed but those."""
    for name in (*keys, *numbers):
        if not KEY_NAME.match(name):
            raise ValueError(f"not a variable name: {name!r}")
    awk = (
        f"LC_ALL=C awk -v keys={shlex.quote(' '.join(keys))} -v numbers={shlex.quote(' '.join(numbers))}"
        f' {shlex.quote(_PROGRAM)} "$f"'
    )
    return (
        f"f={shlex.quote(path)}; "
        'if [ ! -e "$f" ]; then echo absent; exit 0; fi; '
        "stat -L -c 'stat %U %a %F' -- \"$f\" || exit 1; "
        '[ -f "$f" ] || exit 0; '
        '[ -r "$f" ] || { echo "unreadable $(id -un)"; exit 0; }; '
        f"{awk}"
    )


@dataclass(frozen=True)
class EnvFile:
    """What a host said about an env file: never a value, but the `numbers` asked for.

    `kind` is None when there is no such file; `keys` None when it could not be read
    (`unreadable_by` says as whom); a number is None when the key's value is not a whole number.
    """

    path: str
    kind: str | None = None
    owner: str | None = None
    mode: int | None = None
    keys: dict[str, KeyState] | None = None
    numbers: dict[str, int | None] = field(default_factory=dict)
    unreadable_by: str | None = None

    def evidence(self) -> str:
        """What was found, for the report: names and states, no value."""
        if self.kind is None:
            return f"{self.path}: does not exist"
        mode = "?" if self.mode is None else f"{self.mode:04o}"
        lines = [f"{self.path}: {self.kind}, owner {self.owner}, mode {mode}"]
        if self.unreadable_by is not None:
            lines.append(f"not readable by {self.unreadable_by}")
        lines += [f"{name}: {state.value}" for name, state in (self.keys or {}).items()]
        return "\n".join(lines)


def parse_answer(output: str, path: str) -> EnvFile:
    """The answer of `read_command`; raises ValueError on anything else."""
    kind = owner = unreadable_by = None
    mode: int | None = None
    keys: dict[str, KeyState] = {}
    numbers: dict[str, int | None] = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        fields = rest.split(" ")
        if word == "absent":
            return EnvFile(path)
        if word == "stat" and len(fields) >= 3 and re.fullmatch(r"[0-7]{1,4}", fields[1]):
            owner, mode = fields[0], int(fields[1], 8)
            kind = " ".join(fields[2:]).replace("regular empty file", REGULAR_FILE)
        elif word == "unreadable":
            unreadable_by = rest or "?"
        elif word == "key" and len(fields) == 2 and fields[1] in _STATES:
            keys[fields[0]] = KeyState(fields[1])
        elif word == "number" and len(fields) == 2:
            numbers[fields[0]] = int(fields[1]) if fields[1].isdigit() else None
        elif line.strip():
            raise ValueError(f"unexpected answer reading {path}: {line[:80]!r}")
    if kind is None:
        raise ValueError(f"no stat answer for {path}")
    readable = kind == REGULAR_FILE and unreadable_by is None
    return EnvFile(path, kind, owner, mode, keys if readable else None, numbers, unreadable_by)


def too_open(mode: int) -> str | None:
    """What `mode` allows beyond 0640 (`group can write; others can read`), or None."""
    allowed: dict[str, list[str]] = {}
    for bit, who, what in _TOO_OPEN:
        if mode & bit:
            allowed.setdefault(who, []).append(what)
    return "; ".join(f"{who} can {' and '.join(what)}" for who, what in allowed.items()) or None


def judge(
    name: str,
    kind: str | None,
    owner: str | None,
    mode: int | None,
    keys: Mapping[str, KeyState] | None,
    *,
    user: str | None,
    required: Sequence[str],
    kinds: Collection[str] = (REGULAR_FILE,),
    reader: str | None = None,
) -> list[tuple[Status, str]]:
    """Findings about the app's variables held in `name`: it exists (`kind` not None) as one of
    `kinds`, owned by `user` (None, or an owner of None: not judged), its `mode` (None: not
    judged) at most 0640, and every `required` key set to a value (`keys` None: not readable,
    unknown; `reader`: as whom it was read). One line each, naming `name`; ok when nothing is wrong."""
    if kind is None:
        return [(Status.CRITICAL, f"{name} does not exist")]
    if kind not in kinds:
        return [(Status.CRITICAL, f"{name} is a {kind}, not a {' or '.join(kinds)}")]
    findings: list[tuple[Status, str]] = []
    if user is not None and owner is not None and owner != user:
        findings.append((Status.CRITICAL, f"{name} is owned by {owner}, not {user}"))
    opened = too_open(mode) if mode is not None else None
    if opened is not None:
        findings.append((Status.CRITICAL, f"{name} mode {mode:04o} is more open than {MOST_OPEN:04o}: {opened}"))
    if keys is None:
        by = f" by {reader}" if reader else ""
        findings.append((Status.UNKNOWN, f"{name} not readable{by}: required keys not verified"))
        return findings
    missing = [k for k in required if keys.get(k, KeyState.MISSING) is KeyState.MISSING]
    if missing:
        findings.append((Status.CRITICAL, f"{name} lacks {', '.join(missing)}"))
    empty = [k for k in required if keys.get(k) is KeyState.EMPTY]
    if empty:
        findings.append((Status.CRITICAL, f"{name} leaves {', '.join(empty)} empty"))
    if not findings:
        shown = ([f"owner {owner}"] if owner else []) + ([f"mode {mode:04o}"] if mode is not None else [])
        findings.append((Status.OK, ", ".join([f"{name}: {len(required)} required key(s) set", *shown])))
    return findings
