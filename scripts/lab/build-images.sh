#!/usr/bin/env bash
# Builds the lab's base images: Debian 12 and 13 with systemd as PID 1, Python 3, sudo and an
# SSH server, as a fresh VPS has them. Built from Debian's packages with debootstrap (there is
# no registry to pull from) and rebuilt only when this recipe changes.
#
# Usage: build-images.sh [12] [13]     (default: both)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(12 13)

say() { printf 'lab: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

packages=systemd,systemd-sysv,dbus,python3,sudo,ca-certificates,iproute2,procps,openssh-server
recipe=$(cat "$0" "$here"/image/*)
recipe_hash=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)

# Debian's mirrors as this machine is configured to reach them; never a hard-coded host.
sources=/etc/apt/sources.list.d/debian.sources
mirror_uris=$(awk '/^URIs:/ {print $2}' "$sources" 2>/dev/null || true)
mirror=$(printf '%s\n' "$mirror_uris" | grep -v -- '-security' | head -n1)
security_mirror=$(printf '%s\n' "$mirror_uris" | grep -- '-security' | head -n1)
[ -n "$mirror" ] || die "no Debian mirror found in $sources"
[ -n "$security_mirror" ] || security_mirror="${mirror%/debian}/debian-security"

codename_of() {
    case "$1" in
        12) echo bookworm ;;
        13) echo trixie ;;
        *) die "unsupported Debian release '$1' (the lab builds 12 and 13)" ;;
    esac
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return
    say "installing debootstrap"
    "$here/../host-apt.sh" debootstrap || die "could not install debootstrap"
}

build() {
    local release=$1 codename image rootfs log
    codename=$(codename_of "$release")
    image="lab/debian:$release"
    if [ "$(docker image inspect -f '{{ index .Config.Labels "lab.recipe" }}' "$image" 2>/dev/null)" = "$recipe_hash" ]; then
        say "$image is current"
        return
    fi
    rootfs=$(mktemp -d /var/tmp/lab-rootfs.XXXXXX)
    log=$rootfs.log
    say "building $image from $codename (log: $log)"
    if ! http_proxy=$proxy debootstrap --variant=minbase --include="$packages" "$codename" "$rootfs" "$mirror" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -rf "$rootfs"
        die "debootstrap of $codename failed"
    fi
    "$here/image/customize.sh" "$rootfs" "$codename" "$mirror" "$security_mirror" >>"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; rm -rf "$rootfs"; die "customizing $codename failed"; }
    tar -C "$rootfs" -c . | docker import \
        -c 'CMD ["/lib/systemd/systemd"]' \
        -c 'ENV container=docker' \
        -c "LABEL lab.recipe=$recipe_hash" \
        - "$image" >/dev/null
    rm -rf "$rootfs" "$log"
    say "built $image"
}

ensure_debootstrap
# The lab's package cache (apt-cache.sh), when it runs.
proxy=
timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/3142' 2>/dev/null && proxy=http://127.0.0.1:3142
pids=()
for release in "${releases[@]}"; do
    build "$release" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
