"""Modbus RTU polled driver: one slave on a shared serial line.

Called by the device's runner (contract: :mod:`edge_agent.drivers.base`).
A poll waits for the line (:class:`~edge_agent.drivers.modbus_rtu.bus.SerialBus`),
then sends the profile's read plan block by block, each bounded by
``response_timeout``. Readings are stamped when the line was obtained, not
when the runner asked, so queueing behind other slaves does not skew time.

Translation at the boundary:

- no answer within ``response_timeout`` (dead slave, CRC error, garbled
  frame: a frame that fails its CRC is dropped, so it is no answer) →
  :class:`~parkwatch.errors.DeviceTimeout`
- port cannot be opened, or the exchange failed otherwise →
  :class:`~parkwatch.errors.DeviceError`
- exception response (illegal address, device busy) for one block → that
  block's points ``bad``; the other blocks stay good.

If the runner cancels a poll while a request is on the wire, the port is
closed so a late answer cannot be taken for the next slave's reply; after a
``response_timeout`` the bus lets the late reply pass first (see
:mod:`~edge_agent.drivers.modbus_rtu.bus`, ``late_reply_window``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from edge_agent.drivers.base import DeviceConfig, ProfileLibrary
from edge_agent.drivers.modbus_common.block_read import read_block
from edge_agent.drivers.modbus_common.poll_schedule import device_schedule
from edge_agent.drivers.modbus_common.read_plan import ReadBlock
from edge_agent.drivers.modbus_rtu.bus import LineSettings, SerialBus
from edge_agent.drivers.modbus_rtu.config import ModbusRtuConfig
from edge_agent.drivers.registry import register
from parkwatch.errors import DeviceError, DeviceTimeout
from parkwatch.wire.frames import Reading

__all__ = ["ModbusRtuDriver"]

log = logging.getLogger(__name__)


@register("modbus_rtu", ModbusRtuConfig)
class ModbusRtuDriver:
    """Reads every point of one unit id on one serial line.

    Construction does no I/O; it checks the device against the others on its port:

    >>> from edge_agent.register_map import DeviceProfile
    >>> profile = DeviceProfile.model_validate(
    ...     {"name": "t", "points": [{"name": "v", "register": "input", "address": 0, "type": "int16"}]})
    >>> config = ModbusRtuConfig(id="t1", driver="modbus_rtu", port="/dev/ttyNONE", profile="t")
    >>> driver = ModbusRtuDriver(config, {"t": profile})
    >>> driver.point_names, driver.bus.units
    (['v'], {1: 't1'})
    """

    def __init__(self, config: DeviceConfig, profiles: ProfileLibrary) -> None:
        if not isinstance(config, ModbusRtuConfig):
            raise TypeError(f"ModbusRtuDriver needs a ModbusRtuConfig, got {type(config).__name__}")
        self.config = config
        self.profile = profiles[config.profile]
        #: Blocks grouped by point poll interval; a poll reads the groups that are due.
        self.schedule = device_schedule(self.profile, config.poll_interval_s, config.max_registers_per_read)
        #: Every block, all groups (what the first poll reads).
        self.plan: list[ReadBlock] = self.schedule.blocks
        self._order = {p.name: i for i, p in enumerate(self.profile.points)}
        settings = LineSettings(config.port, config.baudrate, config.parity, config.stopbits, config.bytesize)
        self.bus = SerialBus.join(settings, config.unit_id, config.id)
        weakref.finalize(self, self.bus.leave, config.unit_id, config.id)

    @property
    def point_names(self) -> list[str]:
        return [p.name for p in self.profile.points]

    @property
    def _where(self) -> str:
        c = self.config
        return f"device {c.id} ({c.port} unit {c.unit_id})"

    async def read(self) -> list[Reading]:
        readings: list[Reading] = []
        try:
            async with self.bus.exclusive(self.config.unit_id) as client:
                ts_ms = time.time_ns() // 1_000_000
                started = time.monotonic()
                due = self.schedule.due(started)
                try:
                    for group in due:
                        for block in group.blocks:
                            readings.extend(
                                await asyncio.wait_for(
                                    read_block(client, self.config.unit_id, block, ts_ms, self._where),
                                    timeout=self.config.response_timeout_s,
                                )
                            )
                except asyncio.CancelledError:
                    self.bus.reset()  # the runner's timeout hit mid-request
                    raise
                except (TimeoutError, ModbusIOException):
                    # The reply may still come: the next request waits for it (or the window).
                    self.bus.note_timeout(self.config.unit_id, self.config.late_reply_window_s)
                    raise
        except (TimeoutError, ModbusIOException) as exc:
            detail = f"no answer within {self.config.response_timeout_s:g}s" if not str(exc) else str(exc)
            raise DeviceTimeout(f"{self._where}: {detail}") from exc
        except (ConnectionException, ModbusException, OSError) as exc:
            self.bus.reset()
            raise DeviceError(f"{self._where}: {exc}") from exc
        self.bus.note_answer(self.config.unit_id)
        self.schedule.mark(due, started)
        readings.sort(key=lambda r: self._order[r.point])
        return readings

    async def close(self) -> None:
        """The line stays open while other slaves on it are read; the last one closes it."""
        self.bus.release(self.config.unit_id)
