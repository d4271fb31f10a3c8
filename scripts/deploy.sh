#!/usr/bin/env bash
# The rollout CI runs (.github/workflows/deploy.yml), from a laptop: playbooks/deploy.yml
# against inventories/<ENV>, the release id being a commit SHA (HEAD's by default).
#
# Usage: scripts/deploy.sh staging|prod [RELEASE_ID] [ansible-playbook options...]
#   scripts/deploy.sh staging
#   scripts/deploy.sh prod 3f2c1e9 --check --diff
# SSH uses your own agent/keys; Ansible Vault reads ANSIBLE_VAULT_PASSWORD_FILE when set.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/deploy.sh staging|prod [RELEASE_ID] [ansible-playbook options...]" >&2; exit 2; }

target=${1:-}
case "$target" in
    staging | prod) ;;
    production) target=prod ;;
    *) usage ;;
esac
shift

release=$(git rev-parse HEAD)
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    release=$1
    shift
elif [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "deploy: note: uncommitted changes are not part of release $release" >&2
fi
if ! [[ "$release" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "deploy: release ids are letters, digits, '.', '_' and '-': $release" >&2
    exit 2
fi

scripts/setup.sh
echo "deploy: release $release to inventories/$target" >&2
exec .venv/bin/ansible-playbook -i "inventories/$target" playbooks/deploy.yml \
    -e "app_release_id=$release" "$@"
