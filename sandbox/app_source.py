"""The app's source folder on the sandbox's app host, and Python environments to audit, with faults.

`write_source(root)` copies the reference app's modules (`SOURCE_FILES`: clean for bandit at medium and
high severity) to `<root>/home/sergas/super-account-manager/app/`, demo.toml's `[app] source`.
`SourceFaults` (part of `sandbox.faults`):
- `insecure_code()` adds a module that runs a command built from its argument through a shell
  (bandit B602: high severity, high confidence), removed after the block;
- `python_environment(*pins)` makes a real virtual environment (`python -m venv --without-pip`)
  whose installed distributions are exactly `pins` (`name==version`: real dist-info metadata,
  no code), and yields its python for `[app] python`; removed after the block.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SANDBOX_DIR = Path(__file__).resolve().parent
SOURCE_FILES = ("app.py", "traffic.py")
INSECURE_MODULE = "maintenance.py"
INSECURE_CODE = '''"""Maintenance tasks the admin API can start."""

import subprocess


def run_maintenance(task: str) -> int:
    """Run a maintenance task by name."""
    return subprocess.call(f"/usr/local/bin/sergas-maintenance {task}", shell=True)
'''


def source_dir(root: Path) -> Path:
    """The app's source folder under the sandbox root."""
    return root / "home" / "sergas" / "super-account-manager" / "app"


def write_source(root: Path) -> Path:
    """Copy the reference app's modules into the source folder; returns it."""
    folder = source_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SOURCE_FILES:
        shutil.copyfile(SANDBOX_DIR / name, folder / name)
    return folder


def _install_metadata(site_packages: Path, pin: str) -> None:
    name, version = pin.split("==")
    dist_info = site_packages / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist_info / "INSTALLER").write_text("pip\n")


class SourceFaults:
    """Faults of the app's code and of its Python environment; each restores on exit."""

    def __init__(self, root: Path) -> None:
        self._source_root = root

    @contextmanager
    def insecure_code(self) -> Iterator[Path]:
        """A module with `subprocess.call(..., shell=True)` of a built string (B602 high/high)."""
        module = source_dir(self._source_root) / INSECURE_MODULE
        module.write_text(INSECURE_CODE)
        try:
            yield module
        finally:
            module.unlink(missing_ok=True)

    @contextmanager
    def python_environment(self, *pins: str) -> Iterator[Path]:
        """A virtual environment holding the distributions `pins` (`requests==2.19.0`): its python."""
        folder = self._source_root / "home" / "sergas" / f"venv-{secrets.token_hex(4)}"
        try:
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
            python = folder / "bin" / "python"
            found = subprocess.run(
                [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
            site_packages = Path(found.stdout.strip())
            for pin in pins:
                _install_metadata(site_packages, pin)
            yield python
        finally:
            shutil.rmtree(folder, ignore_errors=True)
