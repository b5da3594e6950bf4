"""The sandbox app's .env (written with the other configuration files by sandbox/backups.py)
kept as a deployment keeps it, and its fault states (`ConfigEnvFaults`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.backups import CONFIG_FILES

ENV_FILE = next(Path(rel) for rel in CONFIG_FILES if rel.endswith("/.env"))  # below the sandbox's root
MODE = 0o600


def secure(root: Path) -> None:
    """The .env readable and writable by its owner only (its values are the app's secrets)."""
    (root / ENV_FILE).chmod(MODE)


def _assigning(key: str) -> re.Pattern[str]:
    """The lines of a .env that assign `key` (python-dotenv's syntax: `export `, spaces, quotes)."""
    return re.compile(rf"^[ \t]*(?:export[ \t]+)?(?:{re.escape(key)}|'{re.escape(key)}')[ \t]*=.*$", re.MULTILINE)


class ConfigEnvFaults:
    """The .env's fault states (part of `sandbox.faults`); each puts the file back as it was
    (content and mode) on exit."""

    def __init__(self, root: Path) -> None:
        self.env_file = root / ENV_FILE

    @contextmanager
    def env_world_readable(self) -> Iterator[None]:
        """The .env made readable by every user of the host (mode 0644)."""
        with self._changed(lambda text: text, 0o644):
            yield

    @contextmanager
    def env_key_emptied(self, key: str) -> Iterator[None]:
        """`key` set to nothing (`KEY=`)."""
        with self._changed(lambda text: self._replaced(text, key, f"{key}="), MODE):
            yield

    @contextmanager
    def env_key_removed(self, key: str) -> Iterator[None]:
        """Every line assigning `key` removed."""
        with self._changed(lambda text: self._replaced(text, key, None), MODE):
            yield

    @contextmanager
    def env_key_set(self, key: str, value: str) -> Iterator[None]:
        """`key` set to `value` (e.g. DATABASE_POOL_SIZE raised)."""
        with self._changed(lambda text: self._replaced(text, key, f"{key}={value}"), MODE):
            yield

    @contextmanager
    def env_file_removed(self) -> Iterator[None]:
        """No .env at all (moved aside, and back on exit)."""
        aside = self.env_file.with_name(".env.aside")
        self.env_file.rename(aside)
        try:
            yield
        finally:
            aside.rename(self.env_file)

    @staticmethod
    def _replaced(text: str, key: str, line: str | None) -> str:
        """`text` with the assignments of `key` replaced by `line` (None: removed; no
        assignment: `line` appended)."""
        pattern = _assigning(key)
        if line is None:
            return "".join(kept for kept in text.splitlines(keepends=True) if not pattern.match(kept))
        if pattern.search(text) is None:
            return text + ("" if text.endswith("\n") else "\n") + line + "\n"
        return pattern.sub(lambda _: line, text)

    @contextmanager
    def _changed(self, edit: Callable[[str], str], mode: int) -> Iterator[None]:
        saved, saved_mode = self.env_file.read_bytes(), self.env_file.stat().st_mode & 0o7777
        self.env_file.write_text(edit(saved.decode()))
        self.env_file.chmod(mode)
        try:
            yield
        finally:
            self.env_file.write_bytes(saved)
            self.env_file.chmod(saved_mode)
