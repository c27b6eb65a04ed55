"""``parkwatch stack``: the local services (Mosquitto, Tansu, InfluxDB) for the demo and tests."""

from parkwatch.stack.manager import ServiceStatus, stack_down, stack_status, stack_up

__all__ = ["ServiceStatus", "stack_down", "stack_status", "stack_up"]
