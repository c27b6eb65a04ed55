"""edge_agent: polls field devices and publishes their readings as frames over MQTT.

See README.md beside this file; ``parkwatch edge run`` is the command line.
"""
