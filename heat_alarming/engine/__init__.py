"""Alarm rules, evaluation, state and notification (no Heat imports)."""
