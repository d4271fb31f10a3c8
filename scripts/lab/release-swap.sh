#!/usr/bin/env bash
# Swap is kernel-wide: a scenario that tests swap files activates one on this machine. Turn off
# any the lab left active (an interrupted run) before the next scenario starts. /proc/swaps names
# a file as the container saw it (often just /swapfile), so each file here is turned off by its
# own path: swapoff matches the file itself and refuses one that is not active. An active swap
# file cannot be deleted.
set -euo pipefail
dir=/var/tmp/lab-swap
[ -d "$dir" ] || exit 0
while IFS= read -r -d '' file; do
    swapoff "$file" 2>/dev/null && echo "lab: released swap $file" >&2
    rm -f "$file"
done < <(find "$dir" -name swapfile -print0)
