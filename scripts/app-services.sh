#!/usr/bin/env bash
# Starts and stops a throw-away PostgreSQL and Redis on loopback for the app's tests.
#
#   scripts/app-services.sh up [postgres|redis]     start (idempotent), print the env file
#   scripts/app-services.sh down [postgres|redis]   stop
#   scripts/app-services.sh status                  exit 0 when both answer
#   scripts/app-services.sh env                     print the env file
#
# No systemd here or in CI, so the servers run as plain daemons under a state directory.
# The env file (TEST_DATABASE_URL, TEST_REDIS_URL) is what tests/app/conftest.py reads.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${APP_SERVICES_DIR:-$repo/.cache/app-services}
pg_port=${APP_SERVICES_PG_PORT:-55432}
redis_port=${APP_SERVICES_REDIS_PORT:-56379}
env_file=$state/env
pg_version=15

say() { printf 'app-services: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

ensure_packages() {
    local missing=()
    [ -x "/usr/lib/postgresql/$pg_version/bin/pg_ctl" ] || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; installing needs root"
    say "installing ${missing[*]}"
    "$repo/scripts/host-apt.sh" "${missing[@]}" || die "could not install ${missing[*]}"
    # The Debian packages start their own default cluster/server when an init system exists;
    # ours are separate, on their own ports, so those can stay as they are.
}

# Passwords are made once and kept, so a restarted server accepts the same URLs.
ensure_env_file() {
    mkdir -p "$state"
    chmod 755 "$state"
    if [ ! -s "$env_file" ]; then
        local pg_pw redis_pw
        pg_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        redis_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        umask 077
        cat >"$env_file" <<EOF
TEST_DATABASE_URL=postgresql://postgres:$pg_pw@127.0.0.1:$pg_port/postgres
TEST_REDIS_URL=redis://:$redis_pw@127.0.0.1:$redis_port/0
TEST_PG_PASSWORD=$pg_pw
TEST_REDIS_PASSWORD=$redis_pw
EOF
        umask 022
    fi
    # shellcheck disable=SC1090
    . "$env_file"
    # The tests run as root and read it; postgres only needs the data directory.
    chmod 600 "$env_file"
}

# PostgreSQL refuses to run as root, and the postgres user must reach its data directory:
# a checkout under a private directory falls back to /var/tmp, in a directory of its own (the
# cluster keeps the password of the checkout's env file).
pg_data_dir() {
    if runuser -u postgres -- test -x "$state" 2>/dev/null; then
        echo "$state/pg"
    else
        echo "/var/tmp/app-services-pg-$pg_port-$(printf '%s' "$state" | md5sum | cut -c1-12)"
    fi
}

pg_bin() { echo "/usr/lib/postgresql/$pg_version/bin/$1"; }

pg_up() {
    local data log
    data=$(pg_data_dir)
    log=$data.log
    if [ ! -s "$data/PG_VERSION" ]; then
        say "initialising PostgreSQL in $data"
        install -d -o postgres -g postgres -m 700 "$data"
        local pwfile
        pwfile=$(mktemp)
        printf '%s\n' "$TEST_PG_PASSWORD" >"$pwfile"
        chown postgres "$pwfile"
        runuser -u postgres -- "$(pg_bin initdb)" -D "$data" -U postgres --pwfile="$pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$pwfile"
        cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$data'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
    if runuser -u postgres -- "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1; then
        return 0
    fi
    touch "$log" && chown postgres "$log"
    runuser -u postgres -- "$(pg_bin pg_ctl)" -D "$data" -l "$log" -w -t 30 start >/dev/null \
        || die "PostgreSQL did not start; see $log"
    say "PostgreSQL on 127.0.0.1:$pg_port"
}

pg_down() {
    local data
    data=$(pg_data_dir)
    [ -s "$data/PG_VERSION" ] || return 0
    if runuser -u postgres -- "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1; then
        runuser -u postgres -- "$(pg_bin pg_ctl)" -D "$data" -m fast -w -t 30 stop >/dev/null
        say "PostgreSQL stopped"
    fi
}

redis_cli() { REDISCLI_AUTH=$TEST_REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }

redis_up() {
    if redis_cli ping 2>/dev/null | grep -q PONG; then
        return 0
    fi
    mkdir -p "$state/redis"
    # The password goes in a config file, not on the command line where ps shows it.
    cat >"$state/redis/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
requirepass $TEST_REDIS_PASSWORD
daemonize yes
dir $state/redis
pidfile $state/redis/redis.pid
logfile $state/redis/redis.log
save ""
appendonly no
EOF
    chmod 600 "$state/redis/redis.conf"
    redis-server "$state/redis/redis.conf"
    for _ in $(seq 50); do
        redis_cli ping 2>/dev/null | grep -q PONG && { say "Redis on 127.0.0.1:$redis_port"; return 0; }
        sleep 0.1
    done
    die "Redis did not start; see $state/redis/redis.log"
}

redis_down() {
    if redis_cli ping 2>/dev/null | grep -q PONG; then
        redis_cli shutdown nosave >/dev/null 2>&1 || true
        for _ in $(seq 50); do
            redis_cli ping >/dev/null 2>&1 || { say "Redis stopped"; return 0; }
            sleep 0.1
        done
        die "Redis did not stop"
    fi
}

status() {
    local data
    data=$(pg_data_dir)
    runuser -u postgres -- "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1 \
        || die "PostgreSQL is not running"
    redis_cli ping 2>/dev/null | grep -q PONG || die "Redis is not running"
    say "PostgreSQL and Redis are running"
}

cmd=${1:-}
what=${2:-all}
case "$what" in all | postgres | redis) ;; *) die "unknown service: $what" ;; esac

case "$cmd" in
up)
    ensure_packages
    ensure_env_file
    [ "$what" = redis ] || pg_up
    [ "$what" = postgres ] || redis_up
    grep '^TEST_.*_URL=' "$env_file"
    ;;
down)
    [ -s "$env_file" ] || exit 0
    ensure_env_file
    [ "$what" = redis ] || pg_down
    [ "$what" = postgres ] || redis_down
    ;;
status)
    [ -s "$env_file" ] || die "not set up; run: $0 up"
    ensure_env_file
    status
    ;;
env)
    [ -s "$env_file" ] || die "not set up; run: $0 up"
    grep '^TEST_.*_URL=' "$env_file"
    ;;
*)
    die "usage: $0 up|down [postgres|redis] | status | env"
    ;;
esac
