"""How a batch of lines reaches InfluxDB: one request per batch, errors translated here.

:class:`WriteTransport` is the seam between the batching writer and the wire.
``settings.influx_api`` chooses the implementation: ``v1`` posts to InfluxDB
1.x ``/write`` with aiohttp (what the tests run against); ``v2`` uses
influxdb-client's async write API (bucket = ``influx_db``, ``influx_org``,
``influx_token``). Transports raise :class:`WriteFailed` only: ``retryable``
tells the writer whether the same body can succeed later (network, timeouts,
5xx, 429, a missing database) or never will (a 4xx such as a parse error or
field type conflict, where InfluxDB 1.x keeps the good lines of the batch).
"""

from __future__ import annotations

import asyncio
import re
from typing import Final, Protocol

import aiohttp

from parkwatch.influxql import ensure_database
from parkwatch.settings import Settings

__all__ = ["WriteFailed", "WriteTransport", "InfluxV1Transport", "InfluxV2Transport", "transport_for"]

_DROPPED: Final = re.compile(r"dropped=(\d+)")


class WriteFailed(Exception):
    """A write did not (fully) succeed.

    ``dropped`` is how many lines InfluxDB refused when it says so (partial
    writes), else None; ``missing_database`` asks the writer to prepare again.
    """

    def __init__(self, message: str, *, retryable: bool, dropped: int | None = None,
                 missing_database: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.dropped = dropped
        self.missing_database = missing_database


class WriteTransport(Protocol):
    """One request per call, from the writer's single flush task (no concurrency)."""

    async def prepare(self) -> None:
        """Make sure the target exists (database/bucket); called at start and after a 404."""

    async def write(self, body: bytes) -> None:
        """Write newline-separated lines, millisecond timestamps; raise :class:`WriteFailed`."""

    async def close(self) -> None: ...


class InfluxV1Transport:
    """``POST /write?db=<influx_db>&precision=ms`` on InfluxDB 1.x (or 2.x's v1 compatibility API)."""

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self._settings = settings
        self._url = f"{settings.influx_url}/write"
        self._params = {"db": settings.influx_db, "precision": "ms"}
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.influx_token:
            self._headers["Authorization"] = f"Token {settings.influx_token}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def prepare(self) -> None:
        try:
            await asyncio.to_thread(ensure_database, self._settings)
        except Exception as exc:  # noqa: BLE001 - httpx or InfluxQL error: retry later
            raise WriteFailed(f"cannot create database {self._settings.influx_db!r}: {exc!r}",
                              retryable=True) from exc

    async def write(self, body: bytes) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                self._url, params=self._params, data=body, headers=self._headers
            ) as resp:
                if resp.status == 204:
                    return
                text = (await resp.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WriteFailed(f"InfluxDB write failed: {exc!r}", retryable=True) from exc
        if resp.status == 404 and "database not found" in text:
            raise WriteFailed(text, retryable=True, missing_database=True)
        retryable = resp.status >= 500 or resp.status in (408, 429)
        dropped = _DROPPED.search(text)
        raise WriteFailed(f"InfluxDB answered {resp.status}: {text}", retryable=retryable,
                          dropped=int(dropped.group(1)) if dropped else None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class InfluxV2Transport:
    """influxdb-client's async v2 write API; the bucket must exist (``prepare`` does not create it)."""

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self._settings = settings
        self._timeout_ms = round(timeout_s * 1000)
        self._client: object | None = None

    async def prepare(self) -> None:
        return None

    async def write(self, body: bytes) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self._settings.influx_url, token=self._settings.influx_token,
                org=self._settings.influx_org, timeout=self._timeout_ms,
            )
        assert isinstance(self._client, InfluxDBClientAsync)
        try:
            await self._client.write_api().write(
                bucket=self._settings.influx_db, record=body,
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]  # a str enum in the stubs
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            raise WriteFailed(f"InfluxDB answered {status}: {exc.body!r:.500}",
                              retryable=status >= 500 or status in (408, 429)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WriteFailed(f"InfluxDB write failed: {exc!r}", retryable=True) from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[attr-defined]
            self._client = None


def transport_for(settings: Settings, timeout_s: float) -> WriteTransport:
    """The transport ``settings.influx_api`` asks for."""
    if settings.influx_api == "v2":
        return InfluxV2Transport(settings, timeout_s)
    return InfluxV1Transport(settings, timeout_s)
