"""What the Modbus drivers share: the register codec, read planning and one block's request.

Not a driver itself (it registers nothing); ``modbus_tcp`` and ``modbus_rtu``
build on it, and the field simulator encodes with the same codec.
"""

from edge_agent.drivers.modbus_common.block_read import read_block
from edge_agent.drivers.modbus_common.decode import decode_point, encode_point
from edge_agent.drivers.modbus_common.read_plan import (
    MAX_BITS_PER_READ,
    MAX_REGISTERS_PER_READ,
    ReadBlock,
    plan_reads,
)

__all__ = [
    "MAX_BITS_PER_READ",
    "MAX_REGISTERS_PER_READ",
    "ReadBlock",
    "decode_point",
    "encode_point",
    "plan_reads",
    "read_block",
]
