#!/usr/bin/env bash
# Installs what `make demo` and `make test` need and is missing: Debian packages (as root),
# uv, and the Python environment from uv.lock. Idempotent and quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(postgresql postgresql-contrib redis-server prometheus prometheus-alertmanager prometheus-pushgateway openssh-server iproute2 procps chromium systemd-journal-remote docker.io docker-compose)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]}" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet uv || { echo "cannot install uv: run: python3 -m pip install uv" >&2; exit 1; }
fi
uv sync --frozen --quiet --compile-bytecode
