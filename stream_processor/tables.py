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
from types import SimpleNamespace
from typing import Any, Final

import faust
from faust.serializers.codecs import Codec
from faust.types import TableT

from parkwatch.settings import Settings

__all__ = ["DETECTOR_TABLE", "DeviceStateCodec", "DeviceStateValue", "declare_detector_table"]

DETECTOR_TABLE: Final = "detector-state"

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
