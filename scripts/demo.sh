#!/usr/bin/env bash
# The local fleet: lab containers standing in for VPSes, provisioned by site.yml.
#   demo.sh up        create the fleet (idempotent), bootstrap new hosts as root over SSH,
#                     run site.yml as the admin user, then smoke-test the site over HTTPS
#   demo.sh status    show the fleet's hosts and their services
#   demo.sh down      remove the fleet
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
inventory=inventories/local
fleet=.cache/fleet
web_address=10.231.0.10
site_name=www.fleet.test
demo_email=demo@fleet.test

ssh_as() {  # ssh_as USER ADDRESS: can USER log in with the fleet's key?
    ssh -i "$fleet/id_ed25519" -o BatchMode=yes -o ConnectTimeout=5 \
        -o UserKnownHostsFile="$fleet/known_hosts" -o StrictHostKeyChecking=accept-new \
        "$1@$2" true >/dev/null 2>&1
}

# The inventory's hosts as NAME:ADDRESS, one per line.
fleet_hosts() {
    ansible-inventory -i "$inventory" --list 2>/dev/null | python3 -c 'import json, sys
for name, host in sorted(json.load(sys.stdin)["_meta"]["hostvars"].items()):
    print(name + ":" + host["private_address"])'
}

bootstrap_new_hosts() {
    local new=() pair
    for pair in $(fleet_hosts); do
        ssh_as deploy "${pair#*:}" || new+=("${pair%%:*}")
    done
    if [ ${#new[@]} -gt 0 ]; then
        echo "demo: first contact as root with ${new[*]}" >&2
        ansible-playbook -i "$inventory" playbooks/bootstrap.yml --limit "$(IFS=,; echo "${new[*]}")"
    fi
}

smoke() {
    # The CA of the fleet's ACME server, and a demo user for the token and the WebSocket.
    curl -sf --cacert "$fleet/pebble-cert.pem" --resolve fleet-acme:15000:10.231.0.5 \
        https://fleet-acme:15000/roots/0 >"$fleet/fleet-ca.pem"
    [ -s "$fleet/demo-password" ] || (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$fleet/demo-password")
    docker exec -i fleet-app1 sh -c 'set -a && . /srv/reference-app/shared/env && exec \
        /srv/reference-app/current/venv/bin/app-admin create-user '"$demo_email"' --password-stdin' \
        <"$fleet/demo-password" >/dev/null
    echo
    echo "The site: https://$site_name/  (web host $web_address; certificate from the fleet's ACME server)"
    echo "  curl --cacert $fleet/fleet-ca.pem --resolve $site_name:443:$web_address https://$site_name/version"
    echo "Smoke test:"
    python scripts/lab/smoke.py "$web_address" "$site_name" "$fleet/fleet-ca.pem" "$demo_email" "$fleet/demo-password"
}

status() {
    printf '\n%-14s %-10s %-9s %s\n' host os systemd "services (active)"
    for host in $(fleet_hosts | cut -d: -f1); do
        if ! docker inspect "$host" >/dev/null 2>&1; then
            printf '%-14s %s\n' "$host" "(not created)"
            continue
        fi
        os=$(docker exec "$host" sh -c '. /etc/os-release; echo "debian-$VERSION_ID"')
        state=$(docker exec "$host" systemctl is-system-running 2>/dev/null || true)
        services=$(docker exec "$host" sh -c 'for s in ssh nftables fail2ban nginx postgresql redis-server reference-app; do
            systemctl is-active --quiet "$s" 2>/dev/null && printf "%s " "$s"; done; true')
        printf '%-14s %-10s %-9s %s\n' "$host" "$os" "$state" "$services"
    done
}

case "${1:-up}" in
    up)
        ansible-playbook playbooks/lab/fleet.yml
        bootstrap_new_hosts
        ansible-playbook -i "$inventory" site.yml
        status
        smoke
        ;;
    smoke) smoke ;;
    status) status ;;
    down) ansible-playbook playbooks/lab/fleet.yml -e fleet_state=absent ;;
    *) echo "usage: $0 up|status|smoke|down" >&2; exit 2 ;;
esac
