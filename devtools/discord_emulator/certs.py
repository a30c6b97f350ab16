"""A throwaway CA and a certificate for 127.0.0.1, so the voice websocket can be wss:// as on Discord.

The bot trusts the CA through Settings.discord_ca_file (DISCORD_CA_FILE); nothing else trusts it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TestCertificates:
    __test__ = False  # not a pytest test class, despite the name

    ca_file: Path
    _cert: trustme.LeafCert

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificates(directory: Path) -> TestCertificates:
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "discord-emulator-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TestCertificates(ca_file, cert)
