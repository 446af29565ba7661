"""A throwaway certificate authority for the local broker's TLS listeners (tests, development).

Certificates are P-256 keys signed by a CA made on the spot, valid for a day, written as PEM:

* `<name>.crt` the certificate, `<name>.key` its private key (PKCS#8, unencrypted unless a
  password is given; mode 0600),
* `<name>.keystore.pem` key + certificate + CA in one file, which is what a Kafka broker reads
  with `ssl.keystore.type=PEM`.

Never use these for anything real: the CA's key sits next to its certificate. Needs the
`cryptography` package (a test dependency of fraudstream), imported only when this module is.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, in memory and on disk."""

    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path
    ca_path: Path
    """The PEM of the CA that signed it (for a CA: its own certificate)."""

    @property
    def keystore_path(self) -> Path:
        """Key, certificate and CA chain in one PEM file (Kafka's `ssl.keystore.type=PEM`)."""
        return self.cert_path.with_name(f"{self.name}.keystore.pem")


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fraudstream test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(directory: Path, name: str = "ca") -> Issued:
    """A self-signed CA certificate allowed to sign end-entity certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = _name(f"fraudstream throwaway CA {name}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    _write(cert_path, _cert_pem(cert))
    _write(key_path, _key_pem(key), private=True)
    return Issued(name, cert, key, cert_path, key_path, cert_path)


def issue(
    ca: Issued,
    directory: Path,
    name: str,
    *,
    hosts: Sequence[str] = (),
    client: bool = False,
    key_password: str | None = None,
) -> Issued:
    """A certificate signed by `ca`: a server certificate for `hosts` (IP addresses or DNS
    names, put in subjectAltName), or with `client` a client certificate (CN = `name`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        alt: list[x509.GeneralName] = []
        for host in hosts:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    _write(cert_path, _cert_pem(cert))
    _write(key_path, _key_pem(key, key_password), private=True)
    issued = Issued(name, cert, key, cert_path, key_path, ca.cert_path)
    # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the chain, leaf first.
    _write(issued.keystore_path, _key_pem(key) + _cert_pem(cert) + _cert_pem(ca.cert), private=True)
    return issued
