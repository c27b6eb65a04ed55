"""Monitoring rules as data: the rule book from the ``rules`` topic, condition state machines, engine."""
