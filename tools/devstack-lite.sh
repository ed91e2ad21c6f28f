#!/usr/bin/env bash
# devstack-lite: a real, minimal multi-process Heat with heat-alarming on 127.0.0.1.
#
# Starts keystone (gunicorn), heat-api and heat-api-cfn (Heat's WSGI applications under
# gunicorn) and heat-engine with num_engine_workers workers and the heat-alarming plugin, on Debian's
# PostgreSQL and RabbitMQ. Everything it writes lives in the state directory; everything it
# creates elsewhere (databases, a RabbitMQ vhost) is named by HA_DEVSTACK_PREFIX and
# removed again by tools/devstack-lite-teardown.sh. Run it as root (apt-get and rabbitmqctl)
# on Debian 12; run it again to restart everything with the same state. docs/devstack-lite.md
# has the details.
#
# Environment (all optional):
#   HA_DEVSTACK_DIR            state directory             (/tmp/heat-alarming-devstack)
#   HA_DEVSTACK_PREFIX         database and vhost prefix   (ha_devstack)
#   HA_DEVSTACK_PYTHON         Python with openstack-heat, python-heatclient and heat-alarming
#                              ($VIRTUAL_ENV/bin/python3, else python3 on PATH)
#   HA_DEVSTACK_API_PORT       orchestration API port      (8004)
#   HA_DEVSTACK_CFN_PORT       heat-api-cfn port (signed signal URLs) (8000)
#   HA_DEVSTACK_KEYSTONE_PORT  keystone port               (5000)
#   HA_DEVSTACK_ENGINE_WORKERS heat-engine workers         (2)
#   HA_DEVSTACK_STORE_RESOLUTION, HA_DEVSTACK_EVALUATION_INTERVAL, HA_DEVSTACK_HEARTBEAT_INTERVAL,
#   HA_DEVSTACK_JOURNAL_POLL_INTERVAL, HA_DEVSTACK_PERIOD_CLOSE_DELAY
#                              [heat_alarming] options     (10, 10, 5, 1, 0.5)
#   HA_DEVSTACK_PIP_INSTALL    1: pip-install keystone, gunicorn and python-openstackclient
#                              into the Python when missing; 0: fail instead (1)
#   HA_DEVSTACK_TELEMETRY_SECRET  [heat_alarming] telemetry_secret: Ceilometer's [publisher]
#                              telemetry_secret (generated once and kept in the state directory)
set -euo pipefail

HOST=127.0.0.1
STATE=${HA_DEVSTACK_DIR:-/tmp/heat-alarming-devstack}
PREFIX=${HA_DEVSTACK_PREFIX:-ha_devstack}
API_PORT=${HA_DEVSTACK_API_PORT:-8004}
CFN_PORT=${HA_DEVSTACK_CFN_PORT:-8000}
KEYSTONE_PORT=${HA_DEVSTACK_KEYSTONE_PORT:-5000}
WORKERS=${HA_DEVSTACK_ENGINE_WORKERS:-2}
STORE_RESOLUTION=${HA_DEVSTACK_STORE_RESOLUTION:-10}
EVALUATION_INTERVAL=${HA_DEVSTACK_EVALUATION_INTERVAL:-10}
HEARTBEAT_INTERVAL=${HA_DEVSTACK_HEARTBEAT_INTERVAL:-5}
JOURNAL_POLL_INTERVAL=${HA_DEVSTACK_JOURNAL_POLL_INTERVAL:-1}
PERIOD_CLOSE_DELAY=${HA_DEVSTACK_PERIOD_CLOSE_DELAY:-0.5}
PIP_INSTALL=${HA_DEVSTACK_PIP_INSTALL:-1}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_ADMIN=(psql -h "$HOST" -p 5432 -U postgres -v ON_ERROR_STOP=1 -qAt)

say() { echo "devstack-lite: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
case $PREFIX in *[!a-z0-9_]*|'') die "HA_DEVSTACK_PREFIX must be [a-z0-9_]+ (got '$PREFIX')";; esac

# -- the Python environment ---------------------------------------------------------------
if [ -z "${HA_DEVSTACK_PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then HA_DEVSTACK_PYTHON=$VIRTUAL_ENV/bin/python3
    else HA_DEVSTACK_PYTHON=$(command -v python3 || true); fi
fi
PYTHON=$HA_DEVSTACK_PYTHON
[ -x "$PYTHON" ] || die "no Python at '$PYTHON' (set HA_DEVSTACK_PYTHON or activate a venv)"
"$PYTHON" -c 'import heat, heatclient, heat_alarming' 2>/dev/null || die \
    "$PYTHON lacks openstack-heat, python-heatclient or heat-alarming; make a venv: " \
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '$REPO[test]'"
BIN=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
DATA=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("data"))')
missing=()
"$PYTHON" -c 'import keystone.server.wsgi' 2>/dev/null || missing+=("keystone")
"$PYTHON" -c 'import gunicorn' 2>/dev/null || missing+=("gunicorn")
[ -x "$BIN/openstack" ] || missing+=("python-openstackclient")
if [ ${#missing[@]} -gt 0 ]; then
    [ "$PIP_INSTALL" = 1 ] || die "$PYTHON lacks ${missing[*]} (HA_DEVSTACK_PIP_INSTALL=0)"
    say "pip-installing ${missing[*]} into $PYTHON"
    "$PYTHON" -m pip install -q "${missing[@]}"
fi

# -- PostgreSQL and RabbitMQ, from Debian when they do not answer --------------------------
port_answers() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
if ! "${PG_ADMIN[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
    bash "$REPO/tools/ensure-postgresql.sh"
    "${PG_ADMIN[@]}" -c 'SELECT 1' >/dev/null || die "PostgreSQL on $HOST:5432 refuses postgres"
fi
if ! port_answers 5672; then
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "RabbitMQ is not installed and installing it needs root"
        say "installing Debian's rabbitmq-server package"
        mkdir -p /etc/rabbitmq
        # loopback only, before the package's first start
        grep -qs '^listeners.tcp' /etc/rabbitmq/rabbitmq.conf \
            || echo "listeners.tcp.default = $HOST:5672" >>/etc/rabbitmq/rabbitmq.conf
        grep -qs NODE_IP_ADDRESS /etc/rabbitmq/rabbitmq-env.conf \
            || printf 'NODE_IP_ADDRESS=%s\nNODENAME=rabbit@localhost\n' "$HOST" \
                >>/etc/rabbitmq/rabbitmq-env.conf
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q rabbitmq-server >/dev/null
    fi
    port_answers 5672 || service rabbitmq-server start >/dev/null 2>&1 \
        || rabbitmq-server -detached
    for _ in $(seq 90); do port_answers 5672 && break; sleep 1; done
    port_answers 5672 || die "RabbitMQ did not come up on $HOST:5672"
fi

# -- the state directory, secrets kept across runs ------------------------------------------
mkdir -p "$STATE"/{logs,run,plugins,environment.d,keystone,wsgi}
STATE=$(cd "$STATE" && pwd)
if [ -f "$STATE/devstack.env" ]; then
    # shellcheck disable=SC1091
    . "$STATE/devstack.env"
fi
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_hex(12))'; }
ADMIN_PASSWORD=${ADMIN_PASSWORD:-$(secret)}
DEMO_PASSWORD=${DEMO_PASSWORD:-$(secret)}
SERVICE_PASSWORD=${SERVICE_PASSWORD:-$(secret)}
DOMAIN_ADMIN_PASSWORD=${DOMAIN_ADMIN_PASSWORD:-$(secret)}
TELEMETRY_SECRET=${HA_DEVSTACK_TELEMETRY_SECRET:-${TELEMETRY_SECRET:-$(secret)}}
VHOST=$PREFIX
TRANSPORT_URL=rabbit://guest:guest@$HOST:5672/$VHOST
HEAT_DB=${PREFIX}_heat KEYSTONE_DB=${PREFIX}_keystone ALARM_DB=${PREFIX}_alarms
cat >"$STATE/devstack.env" <<EOF
# written by tools/devstack-lite.sh; read by tools/devstack-lite-teardown.sh
STATE=$STATE
PREFIX=$PREFIX
PYTHON=$PYTHON
BIN=$BIN
VHOST=$VHOST
DATABASES="$HEAT_DB $KEYSTONE_DB $ALARM_DB"
API_PORT=$API_PORT
CFN_PORT=$CFN_PORT
KEYSTONE_PORT=$KEYSTONE_PORT
ADMIN_PASSWORD=$ADMIN_PASSWORD
DEMO_PASSWORD=$DEMO_PASSWORD
SERVICE_PASSWORD=$SERVICE_PASSWORD
DOMAIN_ADMIN_PASSWORD=$DOMAIN_ADMIN_PASSWORD
TELEMETRY_SECRET=$TELEMETRY_SECRET
TRANSPORT_URL=$TRANSPORT_URL
EOF
chmod 600 "$STATE/devstack.env"

# a rerun restarts: stop what a previous run of this state directory started
bash "$REPO/tools/devstack-lite-teardown.sh" --stop-only "$STATE"

# -- databases and the vhost ----------------------------------------------------------------
for db in "$HEAT_DB" "$KEYSTONE_DB" "$ALARM_DB"; do
    if [ -z "$("${PG_ADMIN[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        "${PG_ADMIN[@]}" -c "CREATE DATABASE \"$db\""
        say "created database $db"
    fi
done
db_url() { echo "postgresql+psycopg2://postgres@$HOST:5432/$1"; }
if command -v rabbitmqctl >/dev/null 2>&1; then
    # a vhost of its own, so that no other heat-engine on this RabbitMQ takes its RPC calls
    rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$VHOST" \
        || rabbitmqctl -q add_vhost "$VHOST" >/dev/null
    rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
    # Ceilometer's notifier:// publisher also declares the topic's default queue, which
    # nothing here reads (the engine's listener has a pool queue of its own): cap it
    rabbitmqctl -q set_policy -p "$VHOST" --apply-to queues metering-cap \
        '^metering\.sample$' '{"max-length":10000}' >/dev/null
else
    die "rabbitmqctl is needed to create the vhost $VHOST (run as root)"
fi

# -- keystone ----------------------------------------------------------------------------------
KEYSTONE_URL=http://$HOST:$KEYSTONE_PORT
KEYSTONE_CONF=$STATE/keystone/keystone.conf
mkdir -p "$STATE/keystone/fernet-keys" "$STATE/keystone/credential-keys"
cat >"$KEYSTONE_CONF" <<EOF
[DEFAULT]
log_file = $STATE/logs/keystone.log
[database]
connection = $(db_url "$KEYSTONE_DB")
[token]
provider = fernet
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[fernet_receipts]
key_repository = $STATE/keystone/fernet-keys
[credential]
key_repository = $STATE/keystone/credential-keys
EOF
kmanage() {
    "$BIN/keystone-manage" --config-file "$KEYSTONE_CONF" "$@" \
        >>"$STATE/logs/keystone-manage.log" 2>&1 || die "keystone-manage $1: see $STATE/logs"
}
kmanage db_sync
if [ -z "$(ls -A "$STATE/keystone/fernet-keys")" ]; then
    kmanage fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
fi
if [ -z "$(ls -A "$STATE/keystone/credential-keys")" ]; then
    kmanage credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
fi
kmanage bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
    --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$KEYSTONE_URL/v3" --bootstrap-public-url "$KEYSTONE_URL/v3" \
    --bootstrap-internal-url "$KEYSTONE_URL/v3"

wait_http() {  # wait_http URL WHAT SECONDS: until the URL answers with any HTTP status
    "$PYTHON" - "$1" "$3" <<'EOF' && return 0
import sys
import time
import urllib.error
import urllib.request

url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:  # an HTTP status is an answer
        sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit(1)
EOF
    die "$2 does not answer at $1; see $STATE/logs"
}
start_gunicorn() {  # start_gunicorn NAME PORT APP: a daemon whose working directory is wsgi/
    local name=$1 port=$2 app=$3
    "$BIN/gunicorn" --bind "$HOST:$port" --workers 2 --threads 4 --timeout 120 \
        --graceful-timeout 5 --daemon --no-control-socket --pid "$STATE/run/$name.pid" \
        --chdir "$STATE/wsgi" \
        --error-logfile "$STATE/logs/$name-gunicorn.log" \
        --access-logfile "$STATE/logs/$name-access.log" "$app"
}
# keystone's WSGI application, told its configuration file and kept from parsing gunicorn's
# command line as its own
cat >"$STATE/wsgi/keystone_wsgi.py" <<EOF
"""keystone for gunicorn; written by tools/devstack-lite.sh."""
import os
import sys

os.environ["OS_KEYSTONE_CONFIG_FILES"] = "$KEYSTONE_CONF"
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
start_gunicorn keystone "$KEYSTONE_PORT" keystone_wsgi:application
wait_http "$KEYSTONE_URL/v3" keystone 60
say "keystone on $KEYSTONE_URL"

# users, projects, roles, the orchestration endpoint and Heat's stack-user domain
"$PYTHON" - "$KEYSTONE_URL/v3" "$ADMIN_PASSWORD" "$DEMO_PASSWORD" "$SERVICE_PASSWORD" \
    "$DOMAIN_ADMIN_PASSWORD" "http://$HOST:$API_PORT/v1/%(project_id)s" <<'EOF'
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

url, admin_pw, demo_pw, service_pw, domain_admin_pw, heat_url = sys.argv[1:]
ks = client.Client(session=session.Session(auth=v3.Password(
    auth_url=url, username="admin", password=admin_pw, project_name="admin",
    user_domain_id="default", project_domain_id="default")))


def one(manager, name, **find):
    found = manager.list(name=name, **find)
    return found[0] if found else None


def project(name, domain="default"):
    return one(ks.projects, name, domain=domain) or ks.projects.create(name, domain)


def role(name):
    return one(ks.roles, name) or ks.roles.create(name)


def user(name, password, domain="default"):
    found = one(ks.users, name, domain=domain)
    if found:
        return ks.users.update(found, password=password)
    return ks.users.create(name, domain=domain, password=password)


admin, member = role("admin"), role("member")
service_role = role("service")
role("heat_stack_user")      # Heat's stack_user_role
role("heat_stack_owner")
service, demo = project("service"), project("demo")
heat = user("heat", service_pw)
ks.roles.grant(admin, user=heat, project=service)
ks.roles.grant(service_role, user=heat, project=service)
demo_user = user("demo", demo_pw)
ks.roles.grant(member, user=demo_user, project=demo)
heat_domain = one(ks.domains, "heat") or ks.domains.create(
    "heat", description="Owns users and projects created by heat")
domain_admin = user("heat_domain_admin", domain_admin_pw, domain=heat_domain)
ks.roles.grant(admin, user=domain_admin, domain=heat_domain)
orchestration = one(ks.services, "heat") or ks.services.create(
    "heat", type="orchestration", description="Heat Orchestration Service")
have = {e.interface for e in ks.endpoints.list(service=orchestration)}
for interface in ("public", "internal", "admin"):
    if interface not in have:
        ks.endpoints.create(orchestration, heat_url, interface=interface, region="RegionOne")
EOF
say "keystone users: admin, demo (project demo), heat; domain heat"

# -- heat -----------------------------------------------------------------------------------
HEAT_CONF=$STATE/heat.conf
cp "$DATA/etc/heat/api-paste.ini" "$STATE/api-paste.ini"
if [ -d "$DATA/etc/heat/environment.d" ]; then
    cp "$DATA/etc/heat/environment.d/"* "$STATE/environment.d/"
fi
auth_section() {  # a keystoneauth password section for the heat service user
    cat <<EOF
auth_type = password
auth_url = $KEYSTONE_URL
username = heat
password = $SERVICE_PASSWORD
user_domain_name = Default
EOF
}
cat >"$HEAT_CONF" <<EOF
[DEFAULT]
transport_url = $TRANSPORT_URL
num_engine_workers = $WORKERS
plugin_dirs = $STATE/plugins
environment_dir = $STATE/environment.d
template_dir = $DATA/etc/heat/templates
log_dir = $STATE/logs
region_name_for_services = RegionOne
deferred_auth_method = trusts
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $DOMAIN_ADMIN_PASSWORD
heat_metadata_server_url = http://$HOST:$CFN_PORT
heat_waitcondition_server_url = http://$HOST:$CFN_PORT/v1/waitcondition
[database]
connection = $(db_url "$HEAT_DB")
[paste_deploy]
api_paste_config = $STATE/api-paste.ini
[keystone_authtoken]
$(auth_section)
project_name = service
project_domain_name = Default
www_authenticate_uri = $KEYSTONE_URL
service_token_roles_required = true
[trustee]
$(auth_section)
[clients_keystone]
auth_uri = $KEYSTONE_URL
[ec2authtoken]
# heat-api-cfn checks EC2 signatures at <endpoint>/v3/ec2tokens, as the heat service user
$(auth_section)
project_name = service
project_domain_name = Default
endpoint_override = $KEYSTONE_URL
[oslo_concurrency]
lock_path = $STATE/run
[heat_alarming]
alarm_database = $(db_url "$ALARM_DB")
store_resolution = $STORE_RESOLUTION
store_retention = 3600
evaluation_interval = $EVALUATION_INTERVAL
period_close_delay = $PERIOD_CLOSE_DELAY
heartbeat_interval = $HEARTBEAT_INTERVAL
journal_poll_interval = $JOURNAL_POLL_INTERVAL
# Ceilometer's samples from the bus: agent-notification's notifier://?topic=metering
# publisher, on this deployment's vhost, signed with its [publisher] telemetry_secret
# (docs/ingest.md); exchange ceilometer, topic metering and pool heat-alarming by default
metering_listener = true
metering_transport_url = $TRANSPORT_URL
telemetry_secret = $TELEMETRY_SECRET
[oslo_messaging_rabbit]
# notifications one worker's listener may hold unacknowledged (oslo.messaging: no bound)
rabbit_qos_prefetch_count = 100
EOF
chmod 600 "$HEAT_CONF"
"$BIN/heat-manage" --config-file "$HEAT_CONF" --log-file heat-manage.log db_sync \
    >>"$STATE/logs/heat-manage.out" 2>&1 || die "heat-manage db_sync: see $STATE/logs"
"$BIN/heat-alarming" install-plugin --plugin-dir "$STATE/plugins" --heat-conf "$HEAT_CONF" \
    --fix >>"$STATE/logs/install-plugin.log" 2>&1 || die "install-plugin: see $STATE/logs"

# heat-engine: its parent forks the workers; it leads a process group of its own
ENGINE_STARTED=$(date +%s)
(cd "$STATE" && exec setsid "$BIN/heat-engine" --config-file "$HEAT_CONF" \
    --log-file heat-engine.log >>"$STATE/logs/heat-engine.out" 2>&1 </dev/null) &
echo $! >"$STATE/run/heat-engine.pid"

# heat-api: Heat's WSGI application (heat.api.openstack.wsgi) under gunicorn
cat >"$STATE/wsgi/heat_api_wsgi.py" <<EOF
"""heat-api for gunicorn; written by tools/devstack-lite.sh."""
import sys

sys.argv = ["heat-api", "--config-file", "$HEAT_CONF", "--log-file", "heat-api.log"]
from heat.api.openstack.wsgi import init_application  # noqa: E402

application = init_application()
EOF
start_gunicorn heat-api "$API_PORT" heat_api_wsgi:application
wait_http "http://$HOST:$API_PORT/" heat-api 60
say "heat-api on http://$HOST:$API_PORT"

# heat-api-cfn: where EC2-signed URLs (a policy's alarm_url, an alarm's push_url) land; its
# ec2authtoken filter checks their signature with keystone's /v3/ec2tokens
cat >"$STATE/wsgi/heat_api_cfn_wsgi.py" <<EOF
"""heat-api-cfn for gunicorn; written by tools/devstack-lite.sh."""
import sys

sys.argv = ["heat-api-cfn", "--config-file", "$HEAT_CONF", "--log-file", "heat-api-cfn.log"]
from heat.api.cfn.wsgi import init_application  # noqa: E402

application = init_application()
EOF
start_gunicorn heat-api-cfn "$CFN_PORT" heat_api_cfn_wsgi:application
wait_http "http://$HOST:$CFN_PORT/" heat-api-cfn 60
say "heat-api-cfn on http://$HOST:$CFN_PORT"

# the engine is ready when every worker has joined (heat-alarming's heartbeat rows,
# written since this engine started: a previous run's workers may still look alive)
live_workers() {
    "${PG_ADMIN[@]}" -d "$ALARM_DB" -c "SELECT count(*) FROM ha_workers
        WHERE heartbeat > greatest($ENGINE_STARTED,
                                   extract(epoch FROM now()) - 2 * $HEARTBEAT_INTERVAL)" \
        2>/dev/null || echo 0
}
for _ in $(seq 120); do
    [ "$(live_workers)" -ge "$WORKERS" ] && break
    kill -0 "$(cat "$STATE/run/heat-engine.pid")" 2>/dev/null \
        || die "heat-engine exited; see $STATE/logs/heat-engine.log"
    sleep 1
done
[ "$(live_workers)" -ge "$WORKERS" ] || die "heat-engine workers did not join; see $STATE/logs"
say "heat-engine with $WORKERS workers and heat-alarming"

# -- how to use it ------------------------------------------------------------------------------
openrc() {  # openrc USER PASSWORD PROJECT
    cat <<EOF
export OS_AUTH_URL=$KEYSTONE_URL/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$1
export OS_PASSWORD=$2
export OS_PROJECT_NAME=$3
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export PATH=$BIN:\$PATH
EOF
}
openrc demo "$DEMO_PASSWORD" demo >"$STATE/openrc"
openrc admin "$ADMIN_PASSWORD" admin >"$STATE/admin-openrc"
chmod 600 "$STATE/openrc" "$STATE/admin-openrc"
cat <<EOF
devstack-lite is running (state in $STATE, logs in $STATE/logs):
  keystone      $KEYSTONE_URL/v3
  heat-api      http://$HOST:$API_PORT/v1
  heat-api-cfn  http://$HOST:$CFN_PORT/v1 (signed URLs: alarm_url, push_url)
  heat-engine   $WORKERS workers, heat-alarming loaded from $STATE/plugins
  samples bus   $TRANSPORT_URL, exchange ceilometer, topic metering
                (Ceilometer's notifier:// publisher; telemetry_secret in $STATE/devstack.env)
Use it as the demo user (admin: $STATE/admin-openrc):
  . $STATE/openrc
  openstack stack create -t $REPO/templates/hot-autoscaling.yaml --wait mystack
Stop it and drop what it created: bash $REPO/tools/devstack-lite-teardown.sh $STATE
EOF
