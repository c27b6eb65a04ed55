"""Wire contracts shared by the edge agent, the bridge, the Faust app and the API.

Everything that crosses a process boundary is defined here and only here:
MQTT topics (:mod:`.topics`), the frame payload (:mod:`.frames`), the Kafka
records derived from it (:mod:`.records`) and alert events (:mod:`.alerts`).
The contracts are written down in ``docs/wire.md``.
"""
