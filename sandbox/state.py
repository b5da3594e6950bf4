"""What a running sandbox is: `SandboxState`, the ports, paths and secrets to reach it, kept in
`<root>/state.json`. Light to import: a run that attaches to a sandbox already running (the
suite's own tests, benchmarks) reads this, not the stack that starts the servers."""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from sandbox.app_source import source_dir


@dataclass
class SandboxState:
    """Everything needed to reach a running sandbox; written to `<root>/state.json` (mode 0600,
    it holds the password and the admin token)."""

    root: Path
    pg_port: int
    pg_password: str
    pg_dsn: str
    pg_superuser_dsn: str
    postgres_log: Path
    redis_port: int
    redis_url: str
    app_url: str
    app_marker: str
    admin_token: str
    app_log: Path
    log_dir: Path
    faults_file: Path
    control_socket: Path
    pids: dict[str, int | None] = field(default_factory=dict)
    prometheus_url: str = ""
    alertmanager_url: str = ""
    s3_endpoint: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    pushgateway_url: str = ""
    tls_port: int = 0
    tls_ca_file: str = ""
    apt_config: str = ""  # the private apt state's apt.conf (sandbox/apt.py)
    app_python: str = ""  # the interpreter the app runs on (AppProcess: the owner's)

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def to_json(self) -> str:
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> SandboxState:
        """The state from `to_json`; keys this version no longer has are ignored."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in json.loads(text).items() if k in known}
        for name in (
            "root",
            "postgres_log",
            "app_log",
            "log_dir",
            "faults_file",
            "control_socket",
        ):
            data[name] = Path(data[name])
        return cls(**data)

    def save(self, path: Path | None = None) -> Path:
        """Write atomically (readers never see half a file), mode 0600."""
        path = path or self.state_file
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.to_json())
        os.replace(tmp, path)
        return path

    def env_vars(self) -> dict[str, str]:
        """The variables environments/demo.toml refers to."""
        return {
            "SANDBOX_PG_PORT": str(self.pg_port),
            "SANDBOX_PG_PASSWORD": self.pg_password,
            "SANDBOX_REDIS_PORT": str(self.redis_port),
            "SANDBOX_APP_URL": self.app_url,
            "SANDBOX_APP_MARKER": self.app_marker,
            "SANDBOX_ADMIN_TOKEN": self.admin_token,
            "SANDBOX_ROOT": str(self.root),
            "SANDBOX_LOG_DIR": str(self.log_dir),
            "SANDBOX_PROMETHEUS_URL": self.prometheus_url,
            "SANDBOX_ALERTMANAGER_URL": self.alertmanager_url,
            "SANDBOX_S3_ENDPOINT": self.s3_endpoint,
            "SANDBOX_S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "SANDBOX_S3_SECRET_ACCESS_KEY": self.s3_secret_access_key,
            "SANDBOX_TLS_PORT": str(self.tls_port),
            "SANDBOX_TLS_CA": self.tls_ca_file,
            "SANDBOX_USER": pwd.getpwuid(os.geteuid()).pw_name,  # owns the sandbox's files (the .env)
            "SANDBOX_APT_CONFIG": self.apt_config,
            "SANDBOX_APP_PYTHON": self.app_python,
            "SANDBOX_APP_SOURCE": str(source_dir(self.root)),
            "SANDBOX_BANDIT": str(Path(self.app_python).parent / "bandit"),
        }
