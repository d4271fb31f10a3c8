#!/usr/bin/env bash
# Swap is kernel-wide: a scenario that tests swap files activates one on this machine. Turn off
# any the lab left active (an interrupted run) before the next scenario starts.
set -euo pipefail
dir=/var/tmp/lab-swap
[ -d "$dir" ] || exit 0
while read -r name _; do
    case "$name" in
        "$dir"/*) swapoff "$name" && echo "lab: released swap $name" >&2 ;;
    esac
done < <(tail -n +2 /proc/swaps)
find "$dir" -name swapfile -delete
