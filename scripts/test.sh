#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, unit and app tests, then every Molecule scenario.
# Runs every step even after a failure, prints a table of steps and times, and exits non-zero
# when any step failed.
#
# Usage: scripts/test.sh [step ...]
#   steps: lint validation app providers molecule:<scenario> fleet
#   fleet: the local fleet from scratch (bootstrap over SSH, site.yml) and the rollouts, crashes
#          and firewall matrix under load (tests/fleet); its table lands in .cache/fleet/.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

scenarios=(base data web app)
default_steps=(lint validation app providers)
for s in "${scenarios[@]}"; do default_steps+=("molecule:$s"); done
default_steps+=(fleet)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=("${default_steps[@]}")

log_dir=.cache/test-logs
mkdir -p "$log_dir"

run_step() {
    case "$1" in
        lint)
            yamllint -s . && ansible-lint && ruff check . && ruff format --check . \
                && python scripts/role_docs.py --check ;;
        validation)
            pytest -p no:cacheprovider tests/roles ;;
        app)
            # The services are this checkout's own; stop them so the ports are free for the next.
            scripts/app-services.sh up || return 1
            pytest -p no:cacheprovider tests/app
            local rc=$?
            scripts/app-services.sh down
            return $rc ;;
        providers)
            pytest -p no:cacheprovider tests/providers ;;
        molecule:*)
            scripts/lab/release-swap.sh && molecule test -s "${1#molecule:}" ;;
        fleet)
            # Leaves the fleet up for a look afterwards (make status; make teardown).
            pytest -p no:cacheprovider -x -rA tests/fleet ;;
        *)
            echo "unknown step: $1" >&2; return 2 ;;
    esac
}

results=()
passed=0 failed=0
suite_start=$SECONDS
for step in "${steps[@]}"; do
    log="$log_dir/${step//:/-}.log"
    printf '\n==> %s (log: %s)\n' "$step" "$log"
    start=$SECONDS
    if run_step "$step" 2>&1 | tee "$log"; then
        status=passed; passed=$((passed + 1))
    else
        status=FAILED; failed=$((failed + 1))
    fi
    results+=("$(printf '%-22s %-7s %5ss' "$step" "$status" $((SECONDS - start)))")
done

printf '\n%-22s %-7s %6s\n' step result time
printf '%s\n' "${results[@]}"
printf 'total %ss\n' $((SECONDS - suite_start))
printf 'suite: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
