"""Backtest: replay a recorded load against a template's alarms and scaling policies.

The real evaluator (:class:`heat_alarming.engine.evaluator.Evaluator`) decides the
alarms over a :class:`heat_alarming.metering.store.RollingStore` on a manual clock;
a simulated group (:mod:`.group`) answers the policies' signals with Heat's rules.
Nothing here imports Heat: a backtest runs where Heat is not installed.
"""
