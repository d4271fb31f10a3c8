#!/usr/bin/env bash
# Builds lab/base:12 and lab/base:13: the lab images with the base role converged on them, as a
# host is after its first site.yml. The scenarios of the other roles start from these, so they
# pay for their own role and not for base again (molecule/base proves base on the fresh images).
# Rebuilt only when the base role, this recipe or the lab image under it changes.
#
# Usage: build-base-images.sh [12] [13]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_FORCE_COLOR=0
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(12 13)

say() { printf 'lab: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# The systemd flags every lab host runs with (see LAB: systemd as PID 1 in a container).
systemd_flags=(--cap-add SYS_ADMIN --cap-add NET_ADMIN
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock)

key_of() {
    local under
    under=$(docker image inspect -f '{{ index .Config.Labels "lab.recipe" }}' "lab/debian:$1")
    { git ls-files -z ansible_collections/fastapi_vps/stack/roles/base ansible_collections/fastapi_vps/stack/plugins | xargs -0 cat; cat "$0" playbooks/lab/base-image.yml
      echo "$under"; } | sha256sum | cut -c1-16
}

todo=() builders=() keys=()
for release in "${releases[@]}"; do
    key=$(key_of "$release")
    if [ "$(docker image inspect -f '{{ index .Config.Labels "lab.base" }}' "lab/base:$release" 2>/dev/null)" = "$key" ]; then
        say "lab/base:$release is current"
        continue
    fi
    builder=lab-base-build-$release
    docker rm -f "$builder" >/dev/null 2>&1 || true
    docker run -d --name "$builder" --hostname "$builder" --stop-signal SIGRTMIN+3 "${systemd_flags[@]}" \
        "lab/debian:$release" >/dev/null
    todo+=("$release") builders+=("$builder") keys+=("$key")
done
[ ${#todo[@]} -gt 0 ] || exit 0

cleanup() { docker rm -f "${builders[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT
for builder in "${builders[@]}"; do
    # Base sets kernel settings, as a VPS allows; Docker mounts /proc/sys read-only.
    docker exec "$builder" mount -o remount,rw /proc/sys
    docker exec "$builder" systemctl is-system-running --wait >/dev/null || true
done

log=.cache/test-logs/lab-base-images.log
mkdir -p "$(dirname "$log")"
say "converging base on ${builders[*]} (log: $log)"
inventory=$(printf '%s,' "${builders[@]}")
if ! ansible-playbook -i "$inventory" -c community.docker.docker playbooks/lab/base-image.yml >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "the base role failed on the lab's base image"
fi

for i in "${!todo[@]}"; do
    release=${todo[$i]} builder=${builders[$i]}
    # Each container from the image gets its own identity at boot, as from lab/debian.
    docker exec "$builder" sh -c 'rm -f /etc/ssh/ssh_host_*; : >/etc/machine-id; apt-get clean'
    docker stop "$builder" >/dev/null
    docker commit -c "LABEL lab.base=${keys[$i]}" "$builder" "lab/base:$release" >/dev/null
    say "built lab/base:$release"
done
