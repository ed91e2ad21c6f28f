"""Version 1 of the metering commands (Heat API v1)."""
