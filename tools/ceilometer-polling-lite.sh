#!/bin/bash
# Real ceilometer-polling + ceilometer-agent-notification (ceilometer 27.0.0) on loopback,
# polling libvirt's test driver; meter messages on RabbitMQ topic "metering".
#   tools/ceilometer-polling-lite.sh install            Debian libvirt + a ceilometer venv
#   tools/ceilometer-polling-lite.sh start DIR [opts]   configs into DIR, start the agents
#   tools/ceilometer-polling-lite.sh set DIR METER V    a --file-meter METER reports V for each server
#   tools/ceilometer-polling-lite.sh stop DIR           stop what start DIR started
#   tools/ceilometer-polling-lite.sh probe [--seconds S] [--raw]   print what arrives
# start's options: --interval S (10) --topic T (metering) --transport-url URL
#                  --server-group G (metering.server_group of the two instances)
#                  --file-meter NAME (a dynamic pollster whose value "set" chooses; repeatable)
# The venv is $HEAT_ALARMING_CEILOMETER_VENV (default ~/.cache/heat-alarming/ceilometer-27.0.0-venv).
# The code is tests/support/ceilometer_agents.py; run it with Heat's venv python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
if [ -z "${PYTHON:-}" ] && [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; fi
cd "$root"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m tests.support.ceilometer_agents "$@"
