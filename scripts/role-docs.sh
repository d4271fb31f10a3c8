#!/usr/bin/env bash
# Writes each role's variable reference into its README, between aar-doc's markers, from
# meta/argument_specs.yml (aar-doc with the template docs/role-readme.j2).
#   scripts/role-docs.sh           rewrite the READMEs (make docs)
#   scripts/role-docs.sh --check   fail, naming them, when READMEs are out of date (the lint step)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stale=()
for role in ansible_collections/fastapi_vps/stack/roles/*/; do
    readme=$role/README.md
    name=$(basename "$role")
    cp "$readme" "$work/$name.md"
    aar-doc --output-template docs/role-readme.j2 --output-file "$work/$name.md" "$role" markdown >/dev/null
    if ! cmp -s "$readme" "$work/$name.md"; then
        stale+=("$readme")
        [ "${1:-}" = --check ] || cp "$work/$name.md" "$readme"
    fi
done
if [ "${1:-}" = --check ] && [ ${#stale[@]} -gt 0 ]; then
    printf 'out of date (run make docs):\n' >&2
    printf '  %s\n' "${stale[@]}" >&2
    exit 1
fi
