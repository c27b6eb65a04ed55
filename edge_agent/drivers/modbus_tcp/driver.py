"""Modbus TCP polled driver: reads a device's register map with the fewest requests.

Called by the device's runner (see :mod:`edge_agent.drivers.base` for the
contract); each request goes through
:func:`~edge_agent.drivers.modbus_common.block_read.read_block`, shared
with the RTU driver. pymodbus errors are translated here, at the boundary:

- no answer within the timeout → :class:`~parkwatch.errors.DeviceTimeout`
- refused connection, reset, protocol mix-ups → :class:`~parkwatch.errors.DeviceError`
- exception 0x0A/0x0B from a TCP-to-RTU gateway (path unavailable, target
  did not respond) → :class:`~parkwatch.errors.DeviceTimeout`: the device
  behind the gateway is as silent as a dead one
- any other exception response (illegal address, device busy) for one block
  → the points of that block are reported ``bad``; the other blocks stay good.

After any raised error the connection is closed so the next poll starts with
a fresh one (no stale transaction ids from a late answer).
"""

from __future__ import annotations

import asyncio
import logging
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from edge_agent.drivers.base import DeviceConfig, ProfileLibrary
from edge_agent.drivers.modbus_common.block_read import read_block
from edge_agent.drivers.modbus_common.poll_schedule import device_schedule
from edge_agent.drivers.modbus_common.read_plan import ReadBlock
from edge_agent.drivers.modbus_tcp.config import ModbusTcpConfig
from edge_agent.drivers.registry import register
from parkwatch.errors import DeviceError, DeviceTimeout
from parkwatch.wire.frames import Reading

__all__ = ["ModbusTcpDriver"]

log = logging.getLogger(__name__)

@register("modbus_tcp", ModbusTcpConfig)
class ModbusTcpDriver:
    """Reads every point of one unit id on one Modbus TCP server."""

    def __init__(self, config: DeviceConfig, profiles: ProfileLibrary) -> None:
        if not isinstance(config, ModbusTcpConfig):
            raise TypeError(f"ModbusTcpDriver needs a ModbusTcpConfig, got {type(config).__name__}")
        self.config = config
        self.profile = profiles[config.profile]
        #: Blocks grouped by point poll interval; a poll reads the groups that are due.
        self.schedule = device_schedule(self.profile, config.poll_interval_s, config.max_registers_per_read)
        #: Every block, all groups (what the first poll reads).
        self.plan: list[ReadBlock] = self.schedule.blocks
        self._order = {p.name: i for i, p in enumerate(self.profile.points)}
        self._client: AsyncModbusTcpClient | None = None

    @property
    def point_names(self) -> list[str]:
        return [p.name for p in self.profile.points]

    @property
    def _where(self) -> str:
        c = self.config
        return f"device {c.id} ({c.host}:{c.port} unit {c.unit_id})"

    async def read(self) -> list[Reading]:
        ts_ms = time.time_ns() // 1_000_000
        started = time.monotonic()
        due = self.schedule.due(started)
        try:
            client = await self._connect()
            readings: list[Reading] = []
            for group in due:
                for block in group.blocks:
                    readings.extend(await read_block(client, self.config.unit_id, block, ts_ms, self._where))
        except ModbusIOException as exc:
            await self.close()
            raise DeviceTimeout(f"{self._where}: no answer: {exc}") from exc
        except (ConnectionException, ModbusException, OSError) as exc:
            await self.close()
            raise DeviceError(f"{self._where}: {exc}") from exc
        except asyncio.CancelledError:
            # The runner's timeout: a late answer must not be matched to the next request.
            await self.close()
            raise
        self.schedule.mark(due, started)
        readings.sort(key=lambda r: self._order[r.point])
        return readings

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _connect(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        await self.close()
        c = self.config
        # reconnect_delay=0: no background reconnects; the runner decides when to try again.
        client = AsyncModbusTcpClient(
            c.host, port=c.port, timeout=c.timeout_s, retries=0, reconnect_delay=0, name=c.id
        )
        if not await client.connect():
            client.close()
            raise DeviceError(f"{self._where}: cannot connect")
        self._client = client
        return client
