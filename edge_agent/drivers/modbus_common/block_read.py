"""One read request on the wire and its points' readings, for every Modbus transport.

Shared by the TCP and RTU drivers so both treat answers alike:

- a normal response → one reading per point, ``good`` unless the value is
  not a finite number;
- an exception response (illegal address, device busy, ...) → every point
  of that block ``bad``; the other blocks of the poll are unaffected;
- exception 0x0A/0x0B (a gateway saying the unit behind it did not answer)
  → :class:`~parkwatch.errors.DeviceTimeout`, as if the unit were silent.

pymodbus' own exceptions (no answer, connection lost) pass through; each
driver translates them at its boundary, because what to do with the
connection afterwards differs (TCP drops its socket, RTU resets the bus).
"""

from __future__ import annotations

import logging

from pymodbus import ExceptionResponse
from pymodbus.client import ModbusBaseClient
from pymodbus.constants import ExcCodes

from edge_agent.drivers.modbus_common.decode import decode_point
from edge_agent.drivers.modbus_common.read_plan import ReadBlock
from parkwatch.errors import DeviceTimeout
from parkwatch.wire.frames import Reading

__all__ = ["read_block"]

log = logging.getLogger(__name__)

#: Exception codes by which a gateway says the addressed unit did not answer.
_GATEWAY_NO_ANSWER = frozenset({ExcCodes.GATEWAY_PATH_UNAVIABLE, ExcCodes.GATEWAY_NO_RESPONSE})


async def read_block(
    client: ModbusBaseClient, unit_id: int, block: ReadBlock, ts_ms: int, where: str
) -> list[Reading]:
    """Send ``block``'s request to ``unit_id`` and turn the answer into readings stamped ``ts_ms``.

    ``where`` names the device in log lines and errors.
    """
    start, count = block.start, block.count
    if block.register_type == "holding":
        response = await client.read_holding_registers(start, count=count, device_id=unit_id)
    elif block.register_type == "input":
        response = await client.read_input_registers(start, count=count, device_id=unit_id)
    elif block.register_type == "coil":
        response = await client.read_coils(start, count=count, device_id=unit_id)
    else:
        response = await client.read_discrete_inputs(start, count=count, device_id=unit_id)
    if isinstance(response, ExceptionResponse) and response.exception_code in _GATEWAY_NO_ANSWER:
        code = response.exception_code
        raise DeviceTimeout(f"{where}: gateway reports no answer (exception {code})")
    bits = block.register_type in ("coil", "discrete_input")
    values: list[int] = (
        [int(b) for b in response.bits] if bits and not response.isError() else list(response.registers)
    )
    if response.isError() or len(values) < count:
        log.warning("%s: %s %d+%d: %s", where, block.register_type, start, count, response)
        return [Reading(p.name, ts_ms, None, "bad") for p in block.points]
    out: list[Reading] = []
    for point in block.points:
        value = decode_point(point, block.registers_of(point, values))
        out.append(Reading(point.name, ts_ms, value, "good" if value is not None else "bad"))
    return out
