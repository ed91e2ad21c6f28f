#!/usr/bin/env bash
# Make a Prometheus server and a node exporter answer on loopback for the tests.
#
#   Prometheus     http://127.0.0.1:${HEAT_ALARMING_PROMETHEUS_PORT:-9090}
#   node exporter  http://127.0.0.1:${HEAT_ALARMING_NODE_EXPORTER_PORT:-9100}/metrics
#
# Already running (ours): nothing to do. Installed but stopped: start them.
# Missing: install Debian's prometheus and prometheus-node-exporter packages
# (needs root). Debian's systemd services are not used: both binaries run from
# here, with our own configuration and data under ${HEAT_ALARMING_PROMETHEUS_DIR}
# (default /tmp/heat-alarming-prometheus):
#
#   prometheus.yml   scrapes every 1 s: Prometheus itself, the node exporter, and
#                    every target listed in targets/*.json (file_sd_configs, job
#                    "test"), which Prometheus rereads when the files change: a
#                    test adds a target by writing a file there, without a restart
#   data/            the TSDB (retention 1 day)
#   *.pid, *.log     the two processes
#
# --web.enable-lifecycle is on, so `curl -X POST .../-/reload` rereads the
# configuration. Never listens on anything but 127.0.0.1.
#
#   tools/ensure-prometheus.sh          start (idempotent)
#   tools/ensure-prometheus.sh --stop   stop the two processes this script started
#                                       (by their pid files; the data directory stays)
set -euo pipefail

port=${HEAT_ALARMING_PROMETHEUS_PORT:-9090}
node_port=${HEAT_ALARMING_NODE_EXPORTER_PORT:-9100}
dir=${HEAT_ALARMING_PROMETHEUS_DIR:-/tmp/heat-alarming-prometheus}
url=http://127.0.0.1:$port

say() { echo "ensure-prometheus: $*" >&2; }
# a process of ours runs (an exited one may linger as a zombie where nothing reaps it)
running() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
alive() { [ -f "$dir/$1.pid" ] && running "$(cat "$dir/$1.pid")"; }
node_ready() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$node_port/metrics" 2>/dev/null; }
prom_ready() { curl -fsS -m 2 -o /dev/null "$url/-/ready" 2>/dev/null; }
# the Prometheus answering is ours: its configuration reads our targets directory
prom_ours() { curl -fsS -m 10 "$url/api/v1/status/config" 2>/dev/null | grep -qF "$dir/targets/"; }

stop() {
    local name pid
    for name in prometheus node-exporter; do
        if alive "$name"; then
            pid=$(cat "$dir/$name.pid")
            kill "$pid"
            for _ in $(seq 50); do running "$pid" || break; sleep 0.2; done
            if running "$pid"; then kill -9 "$pid"; fi
            say "stopped $name (pid $pid)"
        fi
        rm -f "$dir/$name.pid"
    done
}

mkdir -p "$dir/targets" "$dir/data"
# one run of this script at a time (tests of several sessions may start it together)
exec 9>"$dir/.lock"
flock 9

if [ "${1:-}" = --stop ]; then
    stop
    exit 0
elif [ -n "${1:-}" ]; then
    say "unknown argument $1 (usage: $0 [--stop])"
    exit 2
fi

# ours already runs (its pid files): a busy Prometheus may be slow to answer, so wait
# for it rather than take it for someone else's
if alive prometheus && alive node-exporter; then
    for _ in $(seq 60); do
        prom_ready && node_ready && exit 0
        sleep 1
    done
    say "our Prometheus (pid $(cat "$dir/prometheus.pid")) runs but does not answer on" \
        "127.0.0.1:$port within 60 s; see $dir/prometheus.log"
    exit 1
fi

if prom_ready && node_ready; then
    prom_ours && exit 0
    say "something else answers on 127.0.0.1:$port (not reading $dir/targets/); stop it or" \
        "set HEAT_ALARMING_PROMETHEUS_PORT"
    exit 1
fi

if ! command -v prometheus >/dev/null 2>&1 || ! command -v prometheus-node-exporter >/dev/null 2>&1
then
    if [ "$(id -u)" != 0 ]; then
        say "Prometheus is not installed and installing it needs root"
        exit 1
    fi
    say "installing Debian's prometheus and prometheus-node-exporter packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # (no systemd here: the packages' services are not started, and not used)
    apt-get install -y -q --no-install-recommends prometheus prometheus-node-exporter >/dev/null
fi

cat >"$dir/prometheus.yml.new" <<EOF
# written by tools/ensure-prometheus.sh
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$port"]
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$node_port"]
  - job_name: test
    file_sd_configs:
      - files: ["$dir/targets/*.json"]
        refresh_interval: 1s
EOF
mv "$dir/prometheus.yml.new" "$dir/prometheus.yml"

started=""
if ! node_ready; then
    alive node-exporter && stop
    setsid prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" \
        >"$dir/node-exporter.log" 2>&1 </dev/null 9>&- &
    echo $! >"$dir/node-exporter.pid"
    started="$started node-exporter"
fi
if ! prom_ready; then
    if alive prometheus; then
        kill "$(cat "$dir/prometheus.pid")" || true
        for _ in $(seq 50); do alive prometheus || break; sleep 0.2; done
    fi
    setsid prometheus --config.file="$dir/prometheus.yml" \
        --storage.tsdb.path="$dir/data" --storage.tsdb.retention.time=1d \
        --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle \
        >"$dir/prometheus.log" 2>&1 </dev/null 9>&- &
    echo $! >"$dir/prometheus.pid"
    started="$started prometheus"
fi

for _ in $(seq 120); do
    if prom_ready && node_ready; then
        if prom_ours; then
            say "Prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}') on $url," \
                "node exporter on 127.0.0.1:$node_port (data in $dir)"
            exit 0
        fi
        say "something else answers on 127.0.0.1:$port"
        exit 1
    fi
    for name in $started; do
        alive "$name" || { say "$name exited:"; tail -n 5 "$dir/$name.log" >&2; exit 1; }
    done
    sleep 0.5
done
say "Prometheus did not come up on $url (see $dir/prometheus.log)"
exit 1
