"""Alarm rules, evaluation, state and notification (no Heat imports).

The public names::

    from heat_alarming.engine import AlarmStore, Evaluator
    evaluator = Evaluator(store, AlarmStore("alarms.sqlite"))
    evaluator.define({...Aodh-style alarm...})
    evaluator.evaluate()
"""
from heat_alarming.engine.alarm import (
                                        ALARM,
                                        OK,
                                        UNKNOWN,
                                        Alarm,
                                        AlarmError,
                                        CompositeRule,
                                        Limits,
                                        ThresholdRule,
                                        TimeConstraint,
)
from heat_alarming.engine.alarm_store import AlarmStore, HistoryEntry, Notification
from heat_alarming.engine.evaluator import Evaluator
from heat_alarming.engine.notifiers import DeliveryError, NotifierManager, NotifierSettings
from heat_alarming.engine.notifiers.dispatcher import Dispatcher

__all__ = ["ALARM", "OK", "UNKNOWN", "Alarm", "AlarmError", "AlarmStore", "CompositeRule",
           "DeliveryError", "Dispatcher", "Evaluator", "HistoryEntry", "Limits", "Notification",
           "NotifierManager", "NotifierSettings", "ThresholdRule", "TimeConstraint"]
