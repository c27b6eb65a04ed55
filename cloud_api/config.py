"""The API's own settings (env ``PARKWATCH_API_<FIELD>``), beside the shared ``Settings``.

The shared settings say where things are (host, port, database URL); these say
how the API behaves: whether it asks for tokens, how fast a token may call,
how large a request may be, and where the registry and the data
classification come from.

    >>> ApiSettings().auth
    'tokens'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings", "DEFAULT_CLASSIFICATION"]

#: The classification shipped with the API (flow meters' production rates are sensitive).
DEFAULT_CLASSIFICATION = Path(__file__).with_name("classification.yaml")


class ApiSettings(BaseSettings):
    """How the API behaves; every default is here."""

    model_config = SettingsConfigDict(env_prefix="PARKWATCH_API_", extra="ignore")

    #: ``tokens``: every request needs ``Authorization: Bearer <token>``. ``off``: no tokens,
    #: every caller is the read-only ``anonymous`` viewer (local demo only).
    auth: Literal["tokens", "off"] = "tokens"
    #: Requests per second each token (or, without one, each client address) may make ...
    rate_per_s: float = Field(default=20.0, gt=0)
    #: ... after a burst of this many.
    rate_burst: int = Field(default=100, ge=1)
    #: Larger request bodies are refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1)
    #: Gateway configs (``gateways/*.yaml``) that make up the registry of sites, devices and points.
    firmware_configs: Path = Path("firmware_configs")
    #: Which points are public, internal or sensitive (see ``classification.yaml``).
    classification: Path = DEFAULT_CLASSIFICATION
    #: Kafka consumer group of the alerts consumer (lag monitoring only; positions live in the store).
    consumer_group: str = "parkwatch-cloud-api"
    #: A point that reported nothing for this long is ``stale``.
    stale_after_s: float = Field(default=60.0, gt=0)
    #: History buckets that can no longer change are reused this long; readings arriving later
    #: (a gateway's backlog) show within it. 0: every history read queries InfluxDB.
    history_cache_s: float = Field(default=60.0, ge=0)
