"""What python-openstackclient loads: the ``metering`` API of the ``openstack`` CLI.

The commands (``openstack.metering.v1`` entry points, in :mod:`.v1.alarms`)
talk to the cloud's orchestration service (heat-api) with python-heatclient,
on the keystone session the CLI logged in with.
"""
from __future__ import annotations

import logging

from osc_lib import utils

LOG = logging.getLogger(__name__)

DEFAULT_API_VERSION = "1"
API_VERSION_OPTION = "os_metering_api_version"
API_NAME = "metering"
API_VERSIONS = {"1": "heatclient.v1.client.Client"}
#: the keystone catalog's type of the service the commands talk to
SERVICE_TYPE = "orchestration"


def make_client(instance):
    """A heatclient client on the CLI's keystone session (heat-api from the catalog,
    of the CLI's region and interface)."""
    client_class = utils.get_client_class(API_NAME, instance._api_version[API_NAME],
                                          API_VERSIONS)
    LOG.debug("Instantiating the metering client: %s", client_class)
    instance.setup_auth()
    return client_class(session=instance.session, service_type=SERVICE_TYPE,
                        region_name=instance.region_name, interface=instance.interface)


def build_option_parser(parser):
    """The CLI's global option of this API: ``--os-metering-api-version``."""
    parser.add_argument(
        "--os-metering-api-version", metavar="<metering-api-version>",
        default=utils.env("OS_METERING_API_VERSION", default=DEFAULT_API_VERSION),
        help=f"Metering API version, default={DEFAULT_API_VERSION} "
             "(Env: OS_METERING_API_VERSION)")
    return parser
