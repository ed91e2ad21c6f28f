"""``log://``: write the notification to the log (oslo.log)."""
from __future__ import annotations

import json

from oslo_log import log as logging

from heat_alarming.engine.notifiers import Notifier

LOG = logging.getLogger(__name__)


class LogNotifier(Notifier):
    def notify(self, action: str, payload: dict, idempotency_key: str) -> None:
        LOG.info("Notifying alarm %s %s from %s to %s (key %s): %s",
                 payload.get("alarm_name"), payload.get("alarm_id"), payload.get("previous"),
                 payload.get("current"), idempotency_key, json.dumps(payload))
