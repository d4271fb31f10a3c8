#!/usr/bin/env bash
# Installs Debian packages on this machine (the controller, not a lab host): the lists are
# updated only when an install fails without it, and one lock keeps the suite's steps that run
# at the same time from meeting in dpkg.
#
# Usage: scripts/host-apt.sh PACKAGE...
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "host-apt: installing $* needs root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
exec 9>/var/lock/fastapi-vps-host-apt
flock 9
apt-get install -y -qq "$@" >/dev/null 2>&1 && exit 0
apt-get update -qq || { echo "host-apt: apt-get update failed" >&2; exit 1; }
out=$(apt-get install -y -qq "$@" 2>&1) || { echo "$out" | tail -n 20 >&2; echo "host-apt: apt-get install $* failed" >&2; exit 1; }
