"""Point tags for rule scopes, from the gateway configs in ``firmware_configs/gateways``.

A device's points carry its profile's name as a tag (``gas_detector``), so
one rule can watch every gas detector of the park. Only ``site``,
``gateway`` and each device's ``id`` and ``profile`` are read; the edge
agent validates the rest of the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from parkwatch.errors import ConfigError

__all__ = ["load_device_tags"]


def load_device_tags(firmware_configs: Path) -> dict[tuple[str, str, str], frozenset[str]]:
    """``(site, gateway, device) -> tags``; an absent directory gives no tags."""
    tags: dict[tuple[str, str, str], frozenset[str]] = {}
    gateways = firmware_configs / "gateways"
    if not gateways.is_dir():
        return tags
    for path in sorted(gateways.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            site, gateway = str(doc["site"]), str(doc["gateway"])
            for device in doc.get("devices") or []:
                if device.get("profile"):
                    tags[(site, gateway, str(device["id"]))] = frozenset({str(device["profile"])})
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: cannot read site, gateway and devices for tags: {exc!r}") from exc
    return tags
