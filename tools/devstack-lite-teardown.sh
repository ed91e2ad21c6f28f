#!/usr/bin/env bash
# Stop what tools/devstack-lite.sh started and drop what it created: its processes, its
# databases, its RabbitMQ vhost and its state directory. Debian's PostgreSQL and RabbitMQ
# stay installed and running.
#
#   tools/devstack-lite-teardown.sh [--stop-only] [STATE_DIR]
#
# STATE_DIR defaults to $HA_DEVSTACK_DIR, else /tmp/heat-alarming-devstack. --stop-only
# stops the processes and keeps everything else (the setup script uses it to restart).
set -uo pipefail

stop_only=no
if [ "${1:-}" = --stop-only ]; then stop_only=yes; shift; fi
STATE=${1:-${HA_DEVSTACK_DIR:-/tmp/heat-alarming-devstack}}
say() { echo "devstack-lite-teardown: $*" >&2; }
[ -d "$STATE" ] || { say "no state directory $STATE: nothing to do"; exit 0; }
STATE=$(cd "$STATE" && pwd)

ours() {  # a live process started in this state directory (not a recycled pid)
    case $(readlink "/proc/$1/cwd" 2>/dev/null) in "$STATE" | "$STATE"/*) return 0 ;; esac
    return 1
}
tree() {  # the pid and all its descendants
    local child
    echo "$1"
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$child"; done
}
stop() {  # stop PIDFILE: TERM the process and its descendants, KILL what is left after 30 s
    local pidfile=$1 pid pids left
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    if [ -n "$pid" ] && ours "$pid"; then
        pids=$(tree "$pid")
        say "stopping $(basename "$pidfile" .pid) (pids $(echo $pids))"
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null
        for _ in $(seq 30); do
            left=$(for p in $pids; do [ -d "/proc/$p" ] && echo "$p"; done)
            [ -z "$left" ] && break
            sleep 1
        done
        # shellcheck disable=SC2086
        [ -n "$left" ] && kill -KILL $left 2>/dev/null
    fi
    rm -f "$pidfile"
}
# the API first, so that nothing new reaches the engine
for name in heat-api heat-api-cfn heat-engine keystone; do
    [ -f "$STATE/run/$name.pid" ] && stop "$STATE/run/$name.pid"
done
[ "$stop_only" = yes ] && exit 0

if [ -f "$STATE/devstack.env" ]; then
    # shellcheck disable=SC1091
    . "$STATE/devstack.env"
    for db in $DATABASES; do
        psql -h 127.0.0.1 -p 5432 -U postgres -qAt -c \
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db'" \
            >/dev/null 2>&1
        psql -h 127.0.0.1 -p 5432 -U postgres -q -c "DROP DATABASE IF EXISTS \"$db\"" \
            && say "dropped database $db"
    done
    if [ -n "${VHOST:-}" ] && [ "$VHOST" != / ] && command -v rabbitmqctl >/dev/null 2>&1; then
        rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 && say "deleted vhost $VHOST"
    fi
fi
rm -rf "$STATE"
say "removed $STATE"
