"""Broker credentials and TLS for the uplink: the ``uplink.auth`` section of a gateway config.

::

    uplink:
      auth:
        username: north-gw1
        password_file: secrets/mqtt.pass   # first line is the password; relative to the config file
        tls:
          ca_file: /etc/parkwatch/ca.pem   # verify the broker against this CA (system CAs if omitted)
          cert_file: gw.crt                # client certificate and key: both or neither
          key_file: gw.key

The password lives in a file of its own (mode 0600, outside version
control), never in the gateway config. Files are checked when the agent
starts, before any connection; :meth:`UplinkAuth.apply` hands them to paho
(``username_pw_set``, ``tls_set``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, model_validator

from parkwatch.errors import ConfigError

__all__ = ["TlsConfig", "UplinkAuth"]


class TlsConfig(BaseModel):
    """TLS towards the broker; an empty section means TLS with the system's CAs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate needs its key)")
        return self


class UplinkAuth(BaseModel):
    """Username/password and/or TLS; see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str | None = None
    password_file: str | None = None
    tls: TlsConfig | None = None

    @model_validator(mode="after")
    def _password_needs_user(self) -> UplinkAuth:
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    def resolve(self, base_dir: Path) -> UplinkAuth:
        """The same settings with every file relative to ``base_dir`` (the config's folder) made absolute."""

        def fix(name: str | None) -> str | None:
            return None if name is None else str(base_dir / name)

        tls = self.tls
        if tls is not None:
            tls = TlsConfig(
                ca_file=fix(tls.ca_file), cert_file=fix(tls.cert_file), key_file=fix(tls.key_file)
            )
        return UplinkAuth(username=self.username, password_file=fix(self.password_file), tls=tls)

    def apply(self, client: mqtt.Client) -> None:
        """Configure ``client``; :class:`ConfigError` when a file is missing or unreadable."""
        if self.username is not None:
            password = None
            if self.password_file is not None:
                try:
                    password = Path(self.password_file).read_text(encoding="utf-8").splitlines()[0]
                except (OSError, IndexError) as exc:
                    raise ConfigError(f"uplink.auth.password_file: cannot read {self.password_file}") from exc
            client.username_pw_set(self.username, password)
        if self.tls is not None:
            for field in ("ca_file", "cert_file", "key_file"):
                name = getattr(self.tls, field)
                if name is not None and not Path(name).is_file():
                    raise ConfigError(f"uplink.auth.tls.{field}: no such file {name}")
            try:
                client.tls_set(
                    ca_certs=self.tls.ca_file,
                    certfile=self.tls.cert_file,
                    keyfile=self.tls.key_file,
                    cert_reqs=ssl.CERT_REQUIRED,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"uplink.auth.tls: {exc}") from exc
