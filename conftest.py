"""The suite's plugins, one module per concern (see fixtures/)."""

pytest_plugins = [
    "fixtures.environment",
    "fixtures.remediation",
    "fixtures.reporting",
    "fixtures.history",
    "fixtures.hosts",
    "fixtures.postgres",
    "fixtures.redis",
    "fixtures.http",
    "fixtures.prometheus",
    "fixtures.alertmanager",
    "fixtures.backups",
    "fixtures.logs",
]
