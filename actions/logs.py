"""clean_old_logs: delete log files past retention in one folder of a host, and nothing else.

Runs on the host (testinfra) as one shell script under `flock`, so two runs never clean at once.
Each file is re-verified there before `rm`: still a regular file (a symlink is never followed
or removed), still older than the retention, held open by no process (`/proc/*/fd`). Names are
bare file names inside the folder (`cd -P` into it first): nothing outside it can be reached.
"""

from __future__ import annotations

import shlex

from testinfra.host import Host

from actions.base import Action, ActionError, Outcome, Risk


class CleanOldLogs(Action):
    id = "clean_old_logs"
    description = "delete *.log and rotated *.log.N[.gz] files older than the retention; journald vacuum"
    risk = Risk.SAFE

    def __init__(
        self,
        *,
        host: Host,
        directory: str,
        files: list[str],
        retention_days: int,
        journald: bool,
    ) -> None:
        bad = [name for name in files if "/" in name or name in ("", ".", "..")]
        if bad:
            raise ValueError(f"not bare file names: {bad}")
        self.host, self.directory, self.files = host, directory, files
        self.retention_days, self.journald = retention_days, journald

    def plan(self) -> list[str]:
        steps = [
            f"rm {self.directory}/{name} on {self.target} (older than {self.retention_days}d)" for name in self.files
        ]
        if self.journald:
            steps.append(f"journalctl --vacuum-time={self.retention_days}d on {self.target}")
        return steps

    def script(self) -> str:
        names = " ".join(shlex.quote(name) for name in self.files)
        return f"""
cd -P -- {shlex.quote(self.directory)} || exit 3
here=$(pwd -P)
for f in {names}; do
  if [ -L "$f" ] || [ ! -f "$f" ]; then echo "skip $f: gone, or not a regular file"; continue; fi
  if [ -z "$(find "./$f" -maxdepth 0 -mtime +{int(self.retention_days) - 1})" ]; then
    echo "skip $f: written since"; continue
  fi
  if find /proc/[0-9]*/fd -maxdepth 1 -lname "$here/$f" 2>/dev/null | grep -q .; then
    echo "skip $f: held open"; continue
  fi
  rm -f -- "./$f" && echo "deleted $f"
done
"""

    def apply(self) -> Outcome:
        lock = f"/tmp/{self.lock_name.replace(':', '-')}.lock"
        command = f"flock -w 60 {shlex.quote(lock)} sh -c {shlex.quote(self.script())}"
        result = self.host.run(command)
        if result.rc != 0:
            raise ActionError(f"cleaning {self.directory} failed (exit {result.rc}): {result.stderr.strip()[:200]}")
        outcome = Outcome()
        for line in result.stdout.splitlines():
            verb, _, rest = line.partition(" ")
            if verb == "deleted":
                outcome.done.append(f"rm {self.directory}/{rest} on {self.target}")
            elif verb == "skip":
                outcome.skipped.append(rest)
        if self.journald:
            vacuum = self.host.run(f"journalctl --vacuum-time={int(self.retention_days)}d")
            if vacuum.rc == 0:
                outcome.done.append(f"journalctl --vacuum-time={self.retention_days}d on {self.target}")
            else:
                outcome.skipped.append(f"journalctl --vacuum-time: {vacuum.stderr.strip()[:120]}")
        return outcome
