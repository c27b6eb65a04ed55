"""The detector-state table: device key -> :class:`~stream_processor.device_state.DeviceState`.

Keyed by the ``readings`` record key itself (raw bytes ``<site>/<gateway>/<device>``,
no ``group_by`` needed), so a device's state sits in the partition its records
arrive on and moves with it on a rebalance. Values are pickled into the
changelog by :class:`DeviceStateCodec`, which only unpickles classes from this
package and from river (whose detectors some of ours wrap): the changelog is
an internal topic, but a pickle loader should never run arbitrary globals.

Faust derives a table's codecs from its ``value_type`` (``_options.serializer``)
and rebuilds values with ``value_type.from_data``; :class:`DeviceStateValue`
is that type, so the table, its changelog topic and recovery all use the codec.
"""

from __future__ import annotations

import io
import pickle
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, Final

import faust
from faust.serializers.codecs import Codec
from faust.types import TableT

from parkwatch.settings import Settings

__all__ = [
    "DETECTOR_TABLE",
    "DeviceStateCodec",
    "DeviceStateValue",
    "StateCheckpoints",
    "declare_detector_table",
    "GATEWAY_TABLE",
    "declare_gateway_table",
]

DETECTOR_TABLE: Final = "detector-state"
GATEWAY_TABLE: Final = "gateway-rule-state"

_ALLOWED_PREFIXES: Final = ("stream_processor.", "river.")
_ALLOWED_GLOBALS: Final = {
    "builtins": frozenset({"dict", "list", "set", "frozenset", "tuple", "str", "int", "float", "bool"}),
    "collections": frozenset({"OrderedDict", "defaultdict", "deque", "Counter"}),
    "copyreg": frozenset({"_reconstructor"}),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_ALLOWED_PREFIXES) or name in _ALLOWED_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name} from the detector-state changelog"
        )


class DeviceStateCodec(Codec):
    """Pickle (protocol 5, no base64) with an allowlist on load.

    >>> from stream_processor.device_state import DeviceState
    >>> codec = DeviceStateCodec()
    >>> codec.loads(codec.dumps(DeviceState())) == DeviceState()
    True
    >>> codec.loads(pickle.dumps(print))
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: refusing to unpickle builtins.print from the detector-state changelog
    """

    def _dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=5)

    def _loads(self, s: bytes) -> Any:
        return _Unpickler(io.BytesIO(s)).load()


class DeviceStateValue:
    """The table's ``value_type``: tells Faust which codec to use; values pass through unchanged."""

    _options = SimpleNamespace(serializer=DeviceStateCodec())

    @staticmethod
    def from_data(data: Any, *, preferred_type: Any = None) -> Any:
        return data


def declare_detector_table(app: faust.App, settings: Settings) -> TableT:
    """Declare the table on ``app``; keys are raw record keys, missing keys read as ``None``."""
    return app.Table(
        DETECTOR_TABLE,
        default=None,
        key_type=bytes,
        value_type=DeviceStateValue,
        partitions=settings.readings_partitions,
        help="Per-device detector and alert state, keyed by <site>/<gateway>/<device>.",
    )


def declare_gateway_table(app: faust.App) -> TableT:
    """Gateway rule state (:class:`~stream_processor.rules.gateways.GatewayState`) by
    ``<site>/<gateway>``; one partition, like ``gateway-events``."""
    return app.Table(
        GATEWAY_TABLE,
        default=None,
        key_type=bytes,
        value_type=DeviceStateValue,
        partitions=1,
        help="Per-gateway offline state and open gateway alerts, keyed by <site>/<gateway>.",
    )


class StateCheckpoints:
    """Decides when a device's state goes to the changelog, so it never runs ahead of InfluxDB.

    The agent mutates each device's :class:`DeviceState` in place and acks a
    record only once its lines are written (see :mod:`stream_processor.agents`).
    A state saved while some of its device's lines are still unwritten would,
    after a kill -9, make the replayed readings look already judged (they would
    be stored unscored). So a due save (every ``interval_s`` at most) happens in
    the callback that confirms a record, at the moment the device has no other
    record in flight: the saved state then covers exactly the readings InfluxDB
    holds. A replay skips readings the state covers (their scored lines are
    stored) and judges the others again from that state, deterministically:
    same scores, same alert ids, identical events.

    Exceptions, documented in the README: a record that opens or resolves an
    alert saves its device's state as soon as its lines are written and its
    events delivered, even if later records of the device are in flight (an
    alert must neither be lost nor left open by a stale state), and a device
    never idle for ``force_after_s`` (a long backlog) is saved anyway. On
    partition revocation and at shutdown every changed state is saved, after
    Faust has waited for all records to be acked (``stream_wait_empty``), so
    the next owner resumes the exact model.

    Saves name the partition explicitly (``send_changelog``), so they may run
    outside the stream iteration; everything runs on the worker's event loop.
    """

    def __init__(self, table: TableT, interval_s: float, *, force_after_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self._clock = clock
        self.interval_s = interval_s
        self.force_after_s = force_after_s if force_after_s is not None else 5 * interval_s
        self.saves = 0
        self._in_flight: dict[bytes, int] = {}
        # Device key -> (partition, state) changed since its last save.
        self._dirty: dict[bytes, tuple[int, Any]] = {}
        self._saved_at: dict[bytes, float] = {}

    def state(self, key: bytes) -> Any:
        """The device's live state: one not saved yet (a new device) or the table's; None if unknown."""
        dirty = self._dirty.get(key)
        return dirty[1] if dirty is not None else self.table.get(key)

    def before(self, key: bytes) -> None:
        """Before a record of ``key`` is applied: saves a state overdue by ``force_after_s``."""
        if key in self._dirty and self._clock() - self._saved_at[key] >= self.force_after_s:
            self._save(key)

    def after(self, key: bytes, partition: int, state: Any, *, alert: bool) -> Callable[[], None]:
        """A record of ``key`` was applied to ``state``; returns what to call once it is stored."""
        self._dirty[key] = (partition, state)
        self._saved_at.setdefault(key, self._clock())  # a new device: its first save is due an interval later
        self._in_flight[key] = self._in_flight.get(key, 0) + 1

        def stored() -> None:
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]
            if key not in self._dirty:
                return
            if alert or (not left and self._clock() - self._saved_at[key] >= self.interval_s):
                self._save(key)

        return stored

    def _save(self, key: bytes) -> None:
        partition, state = self._dirty.pop(key)
        self.table.send_changelog(partition, key, state)  # pickled now, by the table's codec
        self.table.data[key] = state
        self._saved_at[key] = self._clock()
        self.saves += 1

    def items(self) -> list[tuple[bytes, Any]]:
        """Every device state this worker holds (saved or not yet), for the stale sweep."""
        merged = dict(self.table.data.items())
        merged.update((key, state) for key, (_, state) in self._dirty.items())
        return list(merged.items())

    async def save_all(self, producer_flush: Callable[[], Awaitable[None]]) -> int:
        """Send every changed state to the changelog and flush; for revocation and shutdown."""
        keys = list(self._dirty)
        for key in keys:
            self._save(key)
        if keys:
            await producer_flush()
        return len(keys)
