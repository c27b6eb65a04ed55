"""Collects readings into frames: one MQTT message carries many readings.

Readings arrive per device poll (:meth:`FrameBuilder.add`). A frame is cut
when it holds ``max_readings`` readings (returned by ``add``) or when the
agent's frame timer calls :meth:`FrameBuilder.flush`. With a
:class:`~edge_agent.seq_store.SeqStore` every frame gets the next ``seq`` of
the gateway from it; without one (the agent) frames carry ``seq`` 0 and the
outbox numbers them as it stores them, from :func:`encode_template`.
Readings keep their arrival order within a device; a device's readings may
be split across two frames when a frame fills up.

Not thread-safe: used from the agent's event loop only.

>>> from parkwatch.wire.frames import Reading
>>> from edge_agent.seq_store import SeqStore
>>> b = FrameBuilder("north", "gw-01", max_readings=3, seq=SeqStore(None))
>>> b.add("gas-01", [Reading("ch4", 1764189600000, 0.5, "good")] * 2)
[]
>>> full = b.add("pt-01", [Reading("t", 1764189600000, 80.0, "good")] * 2)
>>> [(f.seq, f.reading_count) for f in full], b.pending
([(1, 3)], 1)
>>> b.flush().seq, b.flush()
(2, None)
"""

from __future__ import annotations

import time

from edge_agent.seq_store import SeqStore
from parkwatch.wire.frames import DeviceBatch, Frame, Reading

__all__ = ["FrameBuilder", "encode_template", "SEQ_SENTINEL"]

#: A seq no gateway reaches, replaced by ``%d`` in an encoded template.
SEQ_SENTINEL = 987_654_321_987_654_321


def encode_template(payload_with_sentinel: bytes) -> bytes:
    """Turn ``"seq":<SEQ_SENTINEL>`` in an encoded payload into ``"seq":%d`` for ``template % seq``.

    Safe because ids, qualities and numbers never contain ``%``.

    >>> from parkwatch.wire.frames import Frame, encode_frame
    >>> t = encode_template(encode_frame(Frame("s", "g", SEQ_SENTINEL, 1764189600000, [])))
    >>> t % 42
    b'{"v":1,"site":"s","gateway":"g","seq":42,"sent_ms":1764189600000,"devices":[]}'
    """
    marker = b'"seq":%d' % SEQ_SENTINEL
    if payload_with_sentinel.count(marker) != 1 or b"%" in payload_with_sentinel:
        raise ValueError("payload must hold the seq sentinel exactly once and no '%'")
    return payload_with_sentinel.replace(marker, b'"seq":%d')


class FrameBuilder:
    """Turns per-device readings into numbered frames of at most ``max_readings``."""

    def __init__(self, site: str, gateway: str, max_readings: int, seq: SeqStore | None) -> None:
        if max_readings < 1:
            raise ValueError("max_readings must be >= 1")
        self.site = site
        self.gateway = gateway
        self.max_readings = max_readings
        self.seq = seq
        self._batches: dict[str, list[Reading]] = {}
        self._count = 0

    @property
    def pending(self) -> int:
        """Readings collected and not yet in a frame."""
        return self._count

    def add(self, device: str, readings: list[Reading]) -> list[Frame]:
        """Collect ``readings`` of ``device``; returns the frames that filled up (usually none)."""
        frames: list[Frame] = []
        rest = readings
        while rest:
            room = self.max_readings - self._count
            take, rest = rest[:room], rest[room:]
            self._batches.setdefault(device, []).extend(take)
            self._count += len(take)
            if self._count >= self.max_readings:
                frames.append(self._cut())
        return frames

    def flush(self) -> Frame | None:
        """A frame of everything pending, or ``None`` if nothing is."""
        return self._cut() if self._count else None

    def _cut(self) -> Frame:
        devices = [DeviceBatch(device, readings) for device, readings in self._batches.items()]
        self._batches = {}
        self._count = 0
        seq = self.seq.next() if self.seq is not None else 0
        return Frame(self.site, self.gateway, seq, time.time_ns() // 1_000_000, devices)
