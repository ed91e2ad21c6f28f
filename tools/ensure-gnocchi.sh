#!/usr/bin/env bash
# Make a Gnocchi server (API and metricd) answer on 127.0.0.1:8041 for the test
# suite and for trying the Gnocchi collector by hand.
#
# Already running: nothing to do. Installed but stopped: start it. Missing:
# install Gnocchi from PyPI into a virtualenv of its own (its pinned
# dependencies never touch the project's venv), point its indexer at the local
# PostgreSQL (database "gnocchi", created if missing; tools/ensure-postgresql.sh
# makes the server answer), keep its measures in files under a data directory,
# run gnocchi-upgrade, then start the API (gunicorn, bound to 127.0.0.1 only)
# and gnocchi-metricd (processing new measures every second) in the background.
#
# auth_mode = basic: no Keystone. Gnocchi takes the user name of an HTTP Basic
# header as it comes (the password is ignored); "admin" may read everything.
# That is no authentication at all, which is why the API listens on loopback only.
#
#   tools/ensure-gnocchi.sh          start (or install and start) Gnocchi
#   tools/ensure-gnocchi.sh --stop   stop the API and metricd started here
#
# Everything lives in $HEAT_ALARMING_GNOCCHI_HOME: by default
# /var/lib/heat-alarming/gnocchi as root, ${XDG_CACHE_HOME:-~/.cache}/heat-alarming/gnocchi
# otherwise (venv/, data/, gnocchi.conf, api.pid, api.log, metricd.pid, metricd.log).
set -euo pipefail

GNOCCHI_VERSION=4.7.1   # the release that installs and runs on Python 3.11 here
HOST=127.0.0.1
PORT=${HEAT_ALARMING_GNOCCHI_PORT:-8041}
if [ "$(id -u)" = 0 ]; then
    default_home=/var/lib/heat-alarming/gnocchi
else
    default_home=${XDG_CACHE_HOME:-$HOME/.cache}/heat-alarming/gnocchi
fi
home=${HEAT_ALARMING_GNOCCHI_HOME:-$default_home}
venv=$home/venv
conf=$home/gnocchi.conf
here=$(cd "$(dirname "$0")" && pwd)

say() { echo "ensure-gnocchi: $*" >&2; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
api_up() { curl -sf -o /dev/null -u admin: "http://$HOST:$PORT/v1/status"; }

stop() {
    local name pidfile pid
    for name in metricd api; do
        pidfile=$home/$name.pid
        if alive "$pidfile"; then
            pid=$(cat "$pidfile")
            # metricd and gunicorn each lead a process group of their own (setsid)
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
            say "stopped $name ($pid)"
        fi
        rm -f "$pidfile"
    done
}

if [ "${1:-}" = --stop ]; then
    stop
    exit 0
fi
if [ -n "${1:-}" ]; then
    echo "usage: $0 [--stop]" >&2
    exit 2
fi

api_up && alive "$home/metricd.pid" && exit 0

bash "$here/ensure-postgresql.sh"
mkdir -p "$home/data"

installed() {
    [ -x "$venv/bin/gnocchi-metricd" ] && [ -x "$venv/bin/gunicorn" ] &&
        "$venv/bin/python" -c "import keystonemiddleware, psycopg2" 2>/dev/null
}
if ! installed; then
    say "installing gnocchi $GNOCCHI_VERSION into $venv"
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    # psycopg2-binary: the indexer's driver without building against libpq;
    # gunicorn serves the API (gnocchi-api itself needs a uwsgi binary);
    # keystonemiddleware (the keystone extra): for an API in auth_mode keystone,
    # as tests/support/gnocchi.py starts one beside the basic one
    "$venv/bin/pip" install -q "gnocchi[file,keystone]==$GNOCCHI_VERSION" psycopg2-binary \
        "oslo.db>=4.29.0" "sqlalchemy>=1.4.24" sqlalchemy-utils alembic \
        "gunicorn>=22" >"$home/pip.log" 2>&1 \
        || { say "pip could not install gnocchi (see $home/pip.log)"; exit 1; }
fi

if ! psql -h 127.0.0.1 -p 5432 -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'gnocchi'" | grep -q 1; then
    psql -h 127.0.0.1 -p 5432 -U postgres -qc "CREATE DATABASE gnocchi"
fi

cat >"$conf" <<EOF
# written by tools/ensure-gnocchi.sh
[DEFAULT]
debug = false

[api]
auth_mode = basic

[indexer]
url = postgresql://postgres@127.0.0.1:5432/gnocchi

[storage]
driver = file
file_basepath = $home/data

[incoming]
driver = file
file_basepath = $home/data

[metricd]
workers = 1
metric_processing_delay = 1
EOF

# the WSGI application, reading our configuration file (gnocchi's own
# gnocchi.rest.wsgi would read the server's command line)
cat >"$home/gnocchi_wsgi.py" <<'EOF'
import os

from gnocchi import opts, service
from gnocchi.rest import app

opts.set_defaults()
application = app.load_app(service.prepare_service(
    args=[], default_config_files=[os.environ["GNOCCHI_CONFIG_FILE"]]))
EOF

"$venv/bin/gnocchi-upgrade" --config-file "$conf" >"$home/upgrade.log" 2>&1 \
    || { say "gnocchi-upgrade failed (see $home/upgrade.log)"; exit 1; }

if ! api_up; then
    stop_api=$home/api.pid
    alive "$stop_api" && kill -TERM "$(cat "$stop_api")" 2>/dev/null || true
    GNOCCHI_CONFIG_FILE=$conf setsid "$venv/bin/gunicorn" --chdir "$home" \
        --bind "$HOST:$PORT" --workers 1 --threads 4 --timeout 60 \
        --pid "$home/api.pid" --log-file "$home/api.log" --daemon gnocchi_wsgi:application
fi
if ! alive "$home/metricd.pid"; then
    setsid "$venv/bin/gnocchi-metricd" --config-file "$conf" \
        >>"$home/metricd.log" 2>&1 </dev/null &
    echo $! >"$home/metricd.pid"
fi

for _ in $(seq 120); do
    if api_up && alive "$home/metricd.pid"; then
        say "Gnocchi $GNOCCHI_VERSION on http://$HOST:$PORT (auth_mode basic, home $home)"
        exit 0
    fi
    sleep 0.5
done
say "Gnocchi did not come up on http://$HOST:$PORT (see $home/api.log, $home/metricd.log)"
exit 1
