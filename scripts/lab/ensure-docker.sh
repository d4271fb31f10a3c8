#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs Debian's docker.io and starts
# dockerd in the background when none is running. The lab has no systemd to do it for us.
set -euo pipefail

log_dir=${LAB_LOG_DIR:-/var/log/lab}
wait_seconds=${LAB_DOCKER_WAIT:-60}

say() { printf 'lab: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if docker info >/dev/null 2>&1; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "dockerd is missing and installing it needs root (apt-get install docker.io)"
    say "installing Debian's docker.io"
    "$(dirname "$0")/../host-apt.sh" docker.io || die "could not install docker.io"
fi

mkdir -p "$log_dir"
say "starting dockerd (log: $log_dir/dockerd.log)"
nohup dockerd >>"$log_dir/dockerd.log" 2>&1 </dev/null &

for _ in $(seq "$wait_seconds"); do
    if docker info >/dev/null 2>&1; then
        say "docker engine is up"
        exit 0
    fi
    sleep 1
done
tail -n 20 "$log_dir/dockerd.log" >&2 || true
die "dockerd did not answer within ${wait_seconds}s (see $log_dir/dockerd.log)"
