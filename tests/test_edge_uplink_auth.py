"""Uplink credentials and TLS against a real Mosquitto of our own (PrivateBroker).

Username/password from a ``mosquitto_passwd`` file; TLS with a CA, a server
certificate for 127.0.0.1 and a client certificate, all made here with the
``openssl`` command. Wrong credentials, a missing client certificate or an
untrusted broker are counted and explained, never a crash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_agent.testing import BrokerTls, PrivateBroker
from edge_agent.uplink import Uplink
from edge_agent.uplink_auth import TlsConfig, UplinkAuth
from parkwatch.settings import Settings
from parkwatch.wire.frames import DeviceBatch, Frame, Reading

pytestmark = pytest.mark.skipif(
    not all(shutil.which(exe) for exe in ("mosquitto_passwd", "openssl"))
    or not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()),
    reason="needs mosquitto, mosquitto_passwd and openssl",
)

TS = 1_764_189_600_000


def frame(seq: int) -> Frame:
    return Frame(
        "auth", "gw-auth", seq, TS, [DeviceBatch("d1", [Reading("p", TS + seq, float(seq), "good")])]
    )


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             cwd=folder)  # fmt: skip


def _leaf(folder: Path, name: str, ca: str, extensions: str) -> None:
    (folder / f"{name}.ext").write_text(extensions + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
             cwd=folder)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    _ca(folder, "test-ca")
    _ca(folder, "other-ca")
    _leaf(folder, "broker", "test-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    _leaf(folder, "gw-auth", "test-ca", "extendedKeyUsage=clientAuth")
    # Mosquitto drops root for its own user, which must still read these.
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for parent in folder.parents:
        if parent == Path(tmp_path_factory.getbasetemp()).parent:
            break
        parent.chmod(parent.stat().st_mode | 0o055)
    return Pki(folder / "test-ca.crt", folder / "broker.crt", folder / "broker.key", folder / "gw-auth.crt",
               folder / "gw-auth.key", folder / "other-ca.crt")  # fmt: skip


def password_file(folder: Path, user: str, password: str) -> Path:
    path = folder / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(path), user, password], check=True, capture_output=True
    )
    path.chmod(0o644)
    return path


def secret(folder: Path, text: str) -> Path:
    path = folder / f"secret-{abs(hash(text))}"
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return path


def publish_and_stop(uplink: Uplink, frames: int = 3) -> None:
    for seq in range(1, frames + 1):
        uplink.publish(frame(seq), timeout_s=5)
    assert uplink.flush(10)
    assert uplink.stop()


def wait_until(predicate: object, timeout_s: float = 10) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(predicate())


def test_username_and_password_from_a_file(tmp_path: Path) -> None:
    with PrivateBroker(
        tmp_path / "broker", password_file=password_file(tmp_path, "gw-auth", "s3cret")
    ) as broker:
        settings = Settings(mqtt_port=broker.port)
        auth = UplinkAuth(username="gw-auth", password_file=str(secret(tmp_path, "s3cret")))
        uplink = Uplink(settings, "auth", "gw-auth", auth=auth)
        uplink.start()
        assert uplink.wait_connected(10)
        publish_and_stop(uplink)
        assert (uplink.frames_acked, uplink.connect_refusals, uplink.last_connect_error) == (3, 0, None)

        wrong = UplinkAuth(username="gw-auth", password_file=str(secret(tmp_path, "guess")))
        refused = Uplink(settings, "auth", "gw-auth", client_id="gw-wrong", auth=wrong, reconnect_max_s=1)
        refused.start()
        refused.publish(frame(1), timeout_s=0)  # queued; never acknowledged
        assert wait_until(lambda: refused.connect_refusals >= 2)
        assert not refused.connected and refused.frames_acked == 0
        assert refused.last_connect_error is not None and "not authori" in refused.last_connect_error.lower()
        assert refused.counters()["connect_refusals"] >= 2
        assert not refused.stop(timeout_s=0.5)


def test_tls_with_a_client_certificate(tmp_path: Path, pki: Pki) -> None:
    tls = BrokerTls(pki.ca, pki.server_cert, pki.server_key, require_certificate=True)
    with PrivateBroker(tmp_path / "broker", tls=tls) as broker:
        settings = Settings(mqtt_port=broker.port)
        auth = UplinkAuth(
            tls=TlsConfig(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
        )
        uplink = Uplink(settings, "auth", "gw-auth", auth=auth)
        uplink.start()
        assert uplink.wait_connected(10), uplink.last_connect_error
        publish_and_stop(uplink)
        assert uplink.frames_acked == 3 and uplink.connect_failures == 0

        # Without a client certificate the broker ends the handshake: counted, explained, retried.
        no_cert = Uplink(settings, "auth", "gw-auth", client_id="gw-nocert",
                         auth=UplinkAuth(tls=TlsConfig(ca_file=str(pki.ca))), reconnect_max_s=1)  # fmt: skip
        no_cert.start()
        assert wait_until(lambda: no_cert.connect_failures >= 2 or no_cert.connect_refusals >= 2)
        assert not no_cert.connected and no_cert.last_connect_error is not None
        no_cert.stop(timeout_s=0.2)


def test_untrusted_broker_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    tls = BrokerTls(pki.ca, pki.server_cert, pki.server_key)
    with PrivateBroker(tmp_path / "broker", tls=tls) as broker:
        settings = Settings(mqtt_port=broker.port)
        untrusted = UplinkAuth(tls=TlsConfig(ca_file=str(pki.other_ca)))
        uplink = Uplink(settings, "auth", "gw-auth", auth=untrusted, reconnect_max_s=1)
        uplink.start()
        assert wait_until(lambda: uplink.connect_failures >= 1)
        assert not uplink.connected
        assert (
            uplink.last_connect_error is not None and "CERTIFICATE_VERIFY_FAILED" in uplink.last_connect_error
        )
        uplink.stop(timeout_s=0.2)
        # Same broker, the right CA and no client certificate (not required here): connects.
        trusted = Uplink(settings, "auth", "gw-auth", client_id="gw-trusted",
                         auth=UplinkAuth(tls=TlsConfig(ca_file=str(pki.ca))))  # fmt: skip
        trusted.start()
        assert trusted.wait_connected(10), trusted.last_connect_error
        publish_and_stop(trusted, 1)
