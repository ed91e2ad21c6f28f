#!/usr/bin/env bash
# Make a PostgreSQL server answer on 127.0.0.1:5432 for the test suite.
# Already running: nothing to do. Installed but stopped: start it. Missing:
# install Debian's postgresql package (needs root), listen on loopback only and
# trust loopback connections, which is what the tests use. Never touches any
# address but 127.0.0.1.
set -euo pipefail

ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
ready && exit 0

fresh=no
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "ensure-postgresql: PostgreSQL is not installed and installing it needs root" >&2
        exit 1
    fi
    echo "ensure-postgresql: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q postgresql >/dev/null
    fresh=yes
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
if [ "$fresh" = yes ]; then
    sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
    sed -i '1i host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster --skip-systemctl-redirect "$version" main restart
for _ in $(seq 60); do
    ready && { echo "ensure-postgresql: PostgreSQL $version on 127.0.0.1:5432" >&2; exit 0; }
    sleep 1
done
echo "ensure-postgresql: PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
