"""stream_processor: the cloud side of the pipeline between MQTT and InfluxDB.

* :mod:`stream_processor.bridge` moves frames from MQTT to the Kafka ``readings``
  topic (one record per device per frame) and rejects bad payloads to ``deadletter``.
* :mod:`stream_processor.detectors` holds online anomaly detectors behind one protocol.
* :mod:`stream_processor.app` and friends are the Faust worker that scores every
  reading, opens and resolves alerts and hands lines to :mod:`stream_processor.sink`.

Heavy imports (Faust, paho, aiohttp) happen in the submodules only.
"""

from __future__ import annotations

__all__: list[str] = []
