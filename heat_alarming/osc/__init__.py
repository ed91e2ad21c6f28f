"""The ``openstack metering alarm`` commands: heat-alarming's alarms over Heat's API.

An ``openstack`` CLI plugin (python-openstackclient, osc-lib) that reads the
alarms of the caller's stacks through heat-api with python-heatclient: what
the alarm resources already show as attributes (``state``, ``state_reason``,
``state_timestamp``, ``history``), and the whole history page by page. It
imports no Heat and nothing of heat-alarming's engine: it needs only a
keystone login to a cloud whose heat-engine runs the plugin.
"""
