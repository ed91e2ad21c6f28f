"""Backtests: replay a template on a recorded load, and compare it with other autoscalers."""
