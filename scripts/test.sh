#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, unit and app tests, every Molecule scenario and the
# local fleet's reliability run. Runs every step even after a failure, prints a table of steps
# and times with the total against the suite's budget, and exits non-zero when any step failed.
#
# Usage: scripts/test.sh [step ...]
#   steps: lab lab-base lint validation release collection app providers molecule:<scenario> fleet
#   lab:   the Docker engine, the package cache and the Debian images (cold: a few minutes)
#   lab-base: the base-converged images the data, web and app scenarios start from
#   collection: the collection's tarball built and installed outside the checkout, ansible-doc,
#          ansible-test sanity, its changelog.
#   fleet: the local fleet from scratch (bootstrap over SSH, site.yml) and the rollouts, crashes
#          and firewall matrix under load (tests/fleet); its table lands in .cache/fleet/.
#   quick: lint, validation, app and molecule:base on Debian 12 only (make test-quick).
#
# Without steps, the suite runs in two lanes at once: one lane alone leaves about a sixth of the
# two cores idle (containers booting, apt, readiness probes); two keep them busy, about a
# quarter off the total. A step that needs containers waits for the lab step first. With
# steps, they run one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
# The steps' logs hold Ansible's default output with each task's timing (tests/conftest.py sets the
# same for a pytest run of its own).
export ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks,fastapi_vps.stack.module_cache
export ANSIBLE_LOG_PATH=/dev/null

budget=2100 # seconds: the whole suite within 35 minutes on a 2-core machine
scenarios=(base data web app)
# The lanes, each about half of the steps' measured time; the fleet, the longest, starts first
# beside the lighter scenarios, on the fresh Debian images alone: the base-converged images are
# built in the other lane. molecule:base, the heaviest on the CPU (fresh images, apt), runs
# late, beside the fleet's fault matrix and backups: beside the fleet's start, it slowed the
# fleet by a quarter (1450 s against 1121 s).
# The fleet's lane starts with the lab, which on a fresh machine installs Docker and builds the
# Debian images (minutes); the other lane runs the steps that need no lab meanwhile, collection
# among them. On a 2-core machine building the Debian and base images in the run, as CI does,
# the lanes took 1914 s (lab 102 s, fleet 1588 s) and 1919 s (lab-base 83 s, molecule:app
# 681 s). The fleet ends with the lost db host's rebuild: 217 s on an idle machine, about
# 290 s in a whole run.
lane_a=(lint app release collection lab-wait lab-base molecule:data molecule:web molecule:app molecule:base providers)
lane_b=(lab fleet validation)

log_dir=.cache/test-logs
state=$log_dir/state
rm -rf "$state"
mkdir -p "$state"

run_step() {
    case "$1" in
        lab)
            scripts/lab/up.sh ;;
        lab-base)
            scripts/lab/build-base-images.sh ;;
        lint)
            yamllint -s . && ansible-lint && ruff check . && ruff format --check . \
                && scripts/role-docs.sh --check ;;
        validation)
            pytest -p no:cacheprovider tests/roles tests/plugins ;;
        release)
            pytest -p no:cacheprovider tests/release ;;
        collection)
            pytest -p no:cacheprovider tests/collection ;;
        app)
            # The services are this checkout's own; stop them so the ports are free for the next.
            scripts/app-services.sh up || return 1
            pytest -p no:cacheprovider tests/app
            local rc=$?
            scripts/app-services.sh down
            return $rc ;;
        providers)
            pytest -p no:cacheprovider tests/providers ;;
        molecule:base)
            # Only this scenario makes a swap file (swap is kernel-wide): free one a killed run left.
            scripts/lab/release-swap.sh && molecule test -s base ;;
        molecule:base-debian12)
            # The quick loop: one scenario on one distro; the checks from the probe are skipped.
            scripts/lab/release-swap.sh && molecule test -s base -p base-debian12 ;;
        molecule:*)
            molecule test -s "${1#molecule:}" ;;
        fleet)
            # Leaves the fleet up for a look afterwards (make status; make teardown).
            pytest -p no:cacheprovider -x -rA tests/fleet ;;
        *)
            echo "unknown step: $1" >&2; return 2 ;;
    esac
}

# Runs one step with its log; records its result and time in $state. With `quiet`, only a line
# at its start and end reaches the console (and the log's tail if it failed).
record_step() {
    local step=$1 mode=$2 log="$log_dir/${1//:/-}.log" start=$SECONDS status rc
    printf '\n==> %s (log: %s)\n' "$step" "$log"
    if [ "$mode" = quiet ]; then
        run_step "$step" >"$log" 2>&1
        rc=$?
    else
        run_step "$step" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
    fi
    if [ "$rc" -eq 0 ]; then status=passed; else status=FAILED; fi
    printf '%s %s\n' "$status" $((SECONDS - start)) >"$state/${step//:/-}"
    printf '<== %s %s in %ss\n' "$step" "$status" $((SECONDS - start))
    if [ "$status" = FAILED ] && [ "$mode" = quiet ]; then
        printf -- '--- last lines of %s\n' "$log"
        tail -n 60 "$log"
        printf -- '---\n'
    fi
}

# Every step but these runs on the lab's containers.
needs_lab() { case "$1" in lab | lint | release | collection | app) return 1 ;; esac; }
# These start from the base-converged images.
needs_base_images() { case "$1" in molecule:data | molecule:web | molecule:app) return 0 ;; esac; return 1; }

# A lane: its steps in order. `lab-wait` holds the lane until the other lane's lab step ends.
run_lane() {
    local step
    for step in "$@"; do
        if [ "$step" = lab-wait ]; then
            until [ -e "$state/lab" ]; do sleep 2; done
            continue
        fi
        # Nothing that needs containers runs without a lab, nor without the images it starts from.
        local needed
        for needed in lab lab-base; do
            if { [ "$needed" = lab ] && needs_lab "$step"; } \
                || { [ "$needed" = lab-base ] && needs_base_images "$step"; }; then
                if [ -e "$state/$needed" ] && [ "$(cut -d' ' -f1 "$state/$needed")" = FAILED ]; then
                    printf 'FAILED 0\n' >"$state/${step//:/-}"
                    printf '<== %s not run: the %s step failed\n' "$step" "$needed"
                    continue 2
                fi
            fi
        done
        record_step "$step" "$LANE_MODE"
    done
}

# The machine's CPU time in seconds: all of it, then the containers' (the lab's hosts: their
# modules, services and load). The suite's figures below say how busy the cores were and where
# the time went: when they are busy throughout, only less work makes the suite faster.
cpu_seconds() {
    local containers=/sys/fs/cgroup/cpuacct/docker/cpuacct.usage # cgroup v1, as on the lab
    awk -v hz="$(getconf CLK_TCK)" '/^cpu /{print ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat
    if [ -r "$containers" ]; then awk '{print $1 / 1e9}' "$containers"; else echo -; fi
}

steps=("$@")
suite_start=$SECONDS
read -r -d '' cpu_start_busy cpu_start_containers < <(cpu_seconds)
if [ ${#steps[@]} -eq 0 ]; then
    order=(lab lab-base lint validation release collection app providers)
    for s in "${scenarios[@]}"; do order+=("molecule:$s"); done
    order+=(fleet)
    LANE_MODE=quiet run_lane "${lane_a[@]}" &
    lane_a_pid=$!
    LANE_MODE=quiet run_lane "${lane_b[@]}" &
    lane_b_pid=$!
    wait "$lane_a_pid" "$lane_b_pid"
else
    [ "${steps[*]}" = quick ] && steps=(lint validation app molecule:base-debian12)
    # Steps that need containers get the lab first, and the base images for the scenarios that
    # start from them (a few seconds each when they are there).
    if [[ " ${steps[*]} " != *" lab-base "* ]]; then
        for step in "${steps[@]}"; do
            if needs_base_images "$step"; then steps=(lab-base "${steps[@]}"); break; fi
        done
    fi
    if [[ " ${steps[*]} " != *" lab "* ]]; then
        for step in "${steps[@]}"; do
            if needs_lab "$step"; then steps=(lab "${steps[@]}"); break; fi
        done
    fi
    order=("${steps[@]}")
    LANE_MODE=tee run_lane "${steps[@]}"
fi

passed=0 failed=0
printf '\n%-24s %-7s %6s\n' step result time
for step in "${order[@]}"; do
    read -r status seconds <"$state/${step//:/-}" 2>/dev/null || { status=FAILED seconds=0; }
    if [ "$status" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    printf '%-24s %-7s %5ss\n' "$step" "$status" "$seconds"
done
total=$((SECONDS - suite_start))
verdict="within"
[ "$total" -le "$budget" ] || verdict="OVER"
printf '%-24s %-7s %5ss  (%s the budget of %ss, 35 min: %d%%)\n' total "" "$total" "$verdict" \
    "$budget" $((100 * total / budget))
read -r -d '' cpu_end_busy cpu_end_containers < <(cpu_seconds)
# (No containers' figure at the start: Docker's cgroup came with the lab step, all of it in the run.)
[ "$cpu_start_containers" = - ] && cpu_start_containers=0
awk -v busy="$cpu_end_busy $cpu_start_busy" -v hosts="$cpu_end_containers $cpu_start_containers" \
    -v wall="$total" -v cores="$(nproc)" 'BEGIN {
    split(busy, b, " "); used = b[1] - b[2]
    if (wall < 1 || used <= 0) exit
    printf "cpu: %.0f s used of %d cores for %d s, %.0f%% busy", used, cores, wall, 100 * used / (cores * wall)
    split(hosts, h, " ")
    if (h[1] != "-") printf "; the lab containers %.0f%% of it, the rest (Ansible, tests, Docker) %.0f%%",
        100 * (h[1] - h[2]) / used, 100 - 100 * (h[1] - h[2]) / used
    print ""
}'
printf 'suite: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
