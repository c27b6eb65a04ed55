"""Synthetic park data for benchmarks: frames and records shaped like real gateway output."""

from __future__ import annotations

import math
import random

from parkwatch.wire.frames import DeviceBatch, Frame, Reading
from parkwatch.wire.records import DeviceRecord

__all__ = ["SyntheticGateway", "sample_record"]


class SyntheticGateway:
    """A gateway with ``devices`` x ``points`` sensors producing one reading each per tick.

    Values follow a slow sine plus noise; timestamps advance by ``period_ms``
    per tick, so every (series, time) pair is unique and nothing overwrites.
    """

    def __init__(self, site: str, gateway: str, devices: int, points: int, seed: int = 0) -> None:
        self.site = site
        self.gateway = gateway
        self.device_ids = [f"dev-{d:03d}" for d in range(devices)]
        self.point_ids = [f"p{p:02d}" for p in range(points)]
        self._rng = random.Random(seed)
        self._seq = 0

    @property
    def readings_per_tick(self) -> int:
        return len(self.device_ids) * len(self.point_ids)

    def frame(self, ts_ms: int) -> Frame:
        """The next frame: every sensor read at ``ts_ms``."""
        self._seq += 1
        gauss = self._rng.gauss
        base = 50.0 + 10.0 * math.sin(ts_ms / 60_000.0)
        devices = [
            DeviceBatch(
                dev, [Reading(pt, ts_ms, round(base + gauss(0.0, 1.0), 3), "good") for pt in self.point_ids]
            )
            for dev in self.device_ids
        ]
        return Frame(self.site, self.gateway, self._seq, ts_ms, devices)


def sample_record(readings: int, ts_ms: int, device: str = "dev-000") -> DeviceRecord:
    """A ``readings`` topic record with ``readings`` readings of one device."""
    rows = [Reading(f"p{i:03d}", ts_ms, 50.0 + i * 0.001, "good") for i in range(readings)]
    return DeviceRecord("bench", "gw-bench", device, 1, rows)
