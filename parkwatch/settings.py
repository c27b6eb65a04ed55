"""Where the services are: one settings object, read from ``PARKWATCH_*`` environment variables.

Every component takes its endpoints from here, so the same code runs against
the local stack (defaults), a test stack on free ports, or production
brokers. Defaults are the local stack's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Service endpoints and shared knobs (env: ``PARKWATCH_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="PARKWATCH_", extra="ignore")

    #: Where ``parkwatch stack`` keeps configs, data, logs and pid files.
    state_dir: Path = Path(".parkwatch")
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    influx_host: str = "127.0.0.1"
    influx_port: int = 8086
    #: InfluxDB 1.x's backup/restore RPC listener; only the local stack uses it.
    influx_rpc_port: int = 8088
    #: "v1": InfluxDB 1.x ``/write`` + InfluxQL; "v2": influxdb-client's v2 write API.
    influx_api: Literal["v1", "v2"] = "v1"
    influx_db: str = "parkwatch"
    influx_org: str = "parkwatch"
    influx_token: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    #: The API's relational store: a SQLAlchemy-style URL; empty means SQLite in the state directory.
    api_db_url: str = ""
    #: Partitions of the ``readings`` topic: the ceiling on Faust worker parallelism.
    readings_partitions: int = 8

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def influx_url(self) -> str:
        return f"http://{self.influx_host}:{self.influx_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


def load_settings() -> Settings:
    """Settings from the environment."""
    return Settings()
