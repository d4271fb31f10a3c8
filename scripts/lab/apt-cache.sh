#!/usr/bin/env bash
# Starts the lab's package cache (Debian's apt-cacher-ng) on this machine when none answers.
# Lab images send apt through it when it answers at their gateway (image/apt-proxy), and the
# image builds use it for debootstrap. Without it everything still works, only slower.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=3142

say() { printf 'lab: %s\n' "$*" >&2; }

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; }

answers && exit 0
if ! [ -x /usr/sbin/apt-cacher-ng ]; then
    say "installing Debian's apt-cacher-ng"
    "$here/../host-apt.sh" apt-cacher-ng \
        || { say "WARNING: no apt-cacher-ng; lab containers download packages themselves"; exit 0; }
fi
mkdir -p /var/cache/lab-apt /var/log/lab/apt-cache
say "starting the package cache on port $port (log: /var/log/lab/apt-cache)"
/usr/sbin/apt-cacher-ng -c "$here/apt-cache"
for _ in $(seq 20); do
    answers && exit 0
    sleep 0.5
done
say "WARNING: the package cache did not answer; lab containers download packages themselves"
