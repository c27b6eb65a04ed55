"""Which read blocks are due at a poll, for profiles whose points have their own ``poll_interval``.

The runner polls a device at the device's ``poll_interval``. A point may ask
to be read less often (``poll_interval: 60s`` on an energy counter next to
1 s gas readings). Points are grouped by interval, each group gets its own
read plan (:func:`~edge_agent.drivers.modbus_common.read_plan.plan_reads`,
so blocks never mix intervals), and a poll sends only the blocks of groups
that are due. A group is due when its interval has passed since its last
*successful* read, less half a device interval so that a 5 s group on a 1 s
device is read every fifth poll and not every sixth; a failed poll leaves it
due. The first poll reads everything.

>>> from edge_agent.register_map import DeviceProfile, PointSpec
>>> pts = [PointSpec(name="gas", register="input", address=0, type="uint16"),
...        PointSpec(name="kwh", register="input", address=1, type="uint16", poll_interval="5s")]
>>> schedule = PollSchedule(pts, device_interval_s=1.0)
>>> [[p.name for b in blocks for p in b.points] for blocks in schedule.intervals()]
[['gas'], ['kwh']]
>>> due = schedule.due(now=100.0); schedule.mark(due, now=100.0)
>>> [[p.name for b in g.blocks for p in b.points] for g in schedule.due(now=101.0)]
[['gas']]
>>> sorted(p.name for g in schedule.due(now=104.6) for b in g.blocks for p in b.points)
['gas', 'kwh']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.drivers.modbus_common.read_plan import MAX_REGISTERS_PER_READ, ReadBlock, plan_reads
from edge_agent.register_map import DeviceProfile, PointSpec

__all__ = ["IntervalGroup", "PollSchedule", "device_schedule"]


@dataclass(slots=True)
class IntervalGroup:
    """The blocks of the points read every ``interval_s`` (``None``: every poll)."""

    interval_s: float | None
    blocks: list[ReadBlock]
    #: Monotonic time of the last successful read of this group; ``None`` before the first.
    last_read: float | None = None


class PollSchedule:
    """Read blocks grouped by point poll interval; see the module docstring."""

    def __init__(
        self,
        points: Iterable[PointSpec],
        device_interval_s: float,
        max_registers: int = MAX_REGISTERS_PER_READ,
    ) -> None:
        self.device_interval_s = device_interval_s
        by_interval: dict[float | None, list[PointSpec]] = {}
        for point in points:
            interval = point.poll_interval_s
            if interval is not None and interval <= device_interval_s:
                interval = None  # as often as the device is polled
            by_interval.setdefault(interval, []).append(point)
        order = sorted(by_interval, key=lambda i: -1.0 if i is None else i)
        self.groups = [IntervalGroup(i, plan_reads(by_interval[i], max_registers)) for i in order]

    def intervals(self) -> list[list[ReadBlock]]:
        """Every group's blocks, fastest group first."""
        return [g.blocks for g in self.groups]

    @property
    def blocks(self) -> list[ReadBlock]:
        """Every block of every group (what a poll reads when all groups are due)."""
        return [b for g in self.groups for b in g.blocks]

    def due(self, now: float) -> list[IntervalGroup]:
        """The groups to read at monotonic time ``now``."""
        slack = self.device_interval_s / 2
        return [
            g
            for g in self.groups
            if g.interval_s is None or g.last_read is None or now - g.last_read >= g.interval_s - slack
        ]

    def mark(self, groups: Iterable[IntervalGroup], now: float) -> None:
        """Record a successful read of ``groups`` at ``now``."""
        for group in groups:
            group.last_read = now


def device_schedule(
    profile: DeviceProfile, poll_interval_s: float, device_max_registers: int
) -> PollSchedule:
    """One device's schedule: the profile's points, capped by the lower of its and the device's limit."""
    max_registers = min(device_max_registers, profile.max_registers_per_read or MAX_REGISTERS_PER_READ)
    return PollSchedule(profile.points, poll_interval_s, max_registers)
