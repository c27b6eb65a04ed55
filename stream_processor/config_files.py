"""Load a component's YAML config into its pydantic model, or stop with a clear error.

The pydantic model is the only place that holds defaults; a missing file
section means "all defaults". Errors name the file, the dotted path of the
offending key, the value and what is allowed, as :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from parkwatch.errors import ConfigError

__all__ = ["load_model", "validate_model"]

_M = TypeVar("_M", bound=BaseModel)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_model(model: type[_M], data: Mapping[str, Any], source: str) -> _M:
    """Validate ``data`` into ``model``; :class:`ConfigError` naming ``source`` and each bad key.

    >>> from stream_processor.bridge.config import BridgeConfig
    >>> validate_model(BridgeConfig, {"linger": "20ms"}, "cli").linger_s
    0.02
    >>> validate_model(BridgeConfig, {"compression": "rar"}, "bridge.yaml")
    Traceback (most recent call last):
    ...
    parkwatch.errors.ConfigError: bridge.yaml: compression = 'rar': Input should be 'none', 'gzip', ...
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{_path(err['loc'])} = {err.get('input')!r}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc


def load_model(model: type[_M], path: Path | None, overrides: Mapping[str, Any] | None = None) -> _M:
    """The model from a YAML file (or defaults when ``path`` is None), with overrides applied."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, not {type(loaded).__name__}")
        data.update(loaded or {})
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return validate_model(model, data, str(path) if path else "command line")
