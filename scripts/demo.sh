#!/usr/bin/env bash
# The local fleet: lab containers standing in for VPSes, provisioned by site.yml.
#   demo.sh up        create the fleet (idempotent) and run site.yml against it
#   demo.sh status    show the fleet's hosts and their services
#   demo.sh down      remove the fleet
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
inventory=inventories/local

status() {
    printf '\n%-14s %-10s %-9s %s\n' host os systemd "services (active)"
    for host in $(ansible-inventory -i "$inventory" --list 2>/dev/null \
            | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["_meta"]["hostvars"])))'); do
        if ! docker inspect "$host" >/dev/null 2>&1; then
            printf '%-14s %s\n' "$host" "(not created)"
            continue
        fi
        os=$(docker exec "$host" sh -c '. /etc/os-release; echo "debian-$VERSION_ID"')
        state=$(docker exec "$host" systemctl is-system-running 2>/dev/null || true)
        services=$(docker exec "$host" sh -c 'for s in ssh nftables fail2ban nginx postgresql redis-server; do
            systemctl is-active --quiet "$s" 2>/dev/null && printf "%s " "$s"; done; true')
        printf '%-14s %-10s %-9s %s\n' "$host" "$os" "$state" "$services"
    done
}

case "${1:-up}" in
    up)
        ansible-playbook playbooks/lab/fleet.yml
        ansible-playbook -i "$inventory" site.yml
        status
        ;;
    status) status ;;
    down) ansible-playbook playbooks/lab/fleet.yml -e fleet_state=absent ;;
    *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
