#!/usr/bin/env bash
# Make a MariaDB server answer on 127.0.0.1:3306 for the test suite, root without a
# password from loopback. Already running: nothing to do. Installed but stopped:
# start it. Missing: install Debian's mariadb-server package (needs root) and bind
# it to 127.0.0.1 only. Never touches any address but 127.0.0.1.
set -euo pipefail

ready() { mysqladmin -h 127.0.0.1 -P 3306 -u root --connect-timeout=2 ping >/dev/null 2>&1; }
ready && exit 0

fresh=no
if ! command -v mariadbd >/dev/null 2>&1 && ! command -v mysqld >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "ensure-mariadb: MariaDB is not installed and installing it needs root" >&2
        exit 1
    fi
    echo "ensure-mariadb: installing Debian's mariadb-server package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q mariadb-server >/dev/null
    fresh=yes
fi

if [ -d /etc/mysql/mariadb.conf.d ]; then
    cat > /etc/mysql/mariadb.conf.d/99-heat-alarming-loopback.cnf <<'CNF'
[mysqld]
bind-address = 127.0.0.1
CNF
fi
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
if command -v service >/dev/null 2>&1; then
    service mariadb start >/dev/null 2>&1 || service mysql start >/dev/null 2>&1 || true
fi
if ! ready; then
    daemon=$(command -v mariadbd-safe || command -v mysqld_safe)
    nohup "$daemon" --bind-address=127.0.0.1 >/dev/null 2>&1 &
fi
for _ in $(seq 60); do
    if ready; then
        if [ "$fresh" = yes ]; then
            # root over TCP from loopback without a password, as the tests connect
            mysql -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
                GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
        fi
        echo "ensure-mariadb: MariaDB on 127.0.0.1:3306" >&2
        exit 0
    fi
    sleep 1
done
echo "ensure-mariadb: MariaDB did not come up on 127.0.0.1:3306" >&2
exit 1
