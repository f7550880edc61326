"""A certificate chain of our own in Apple's shape (root → WWDR → Order Type ID
certificate) and an APNs .p8 key, written to files the Wallet settings point at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ORDER_TYPE_ID = "order.test.orderstatus"
APNS_KEY_ID = "ABC123DEFG"
APNS_TEAM_ID = "TEAM123456"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str,
    key: Any,
    issuer: str,
    issuer_key: Any,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class WalletFiles:
    root: Path
    cert: Path
    key: Path
    wwdr: Path
    apns_key: Path
    apns_public: ec.EllipticCurvePublicKey

    def settings(self, apns_url: str = "https://127.0.0.1:9") -> dict[str, str]:
        return {
            "wallet_order_type_id": ORDER_TYPE_ID,
            "wallet_cert": str(self.cert),
            "wallet_key": str(self.key),
            "wallet_wwdr": str(self.wwdr),
            "apns_key": str(self.apns_key),
            "apns_key_id": APNS_KEY_ID,
            "apns_team_id": APNS_TEAM_ID,
            "apns_url": apns_url,
        }


def make_wallet_files(folder: Path) -> WalletFiles:
    folder.mkdir(parents=True, exist_ok=True)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wwdr_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _certificate("Test Root CA", root_key, "Test Root CA", root_key, ca=True)
    wwdr = _certificate("Test WWDR", wwdr_key, "Test Root CA", root_key, ca=True)
    signer = _certificate(
        f"Order Type ID: {ORDER_TYPE_ID}", signer_key, "Test WWDR", wwdr_key, ca=False
    )
    apns = ec.generate_private_key(ec.SECP256R1())
    files = WalletFiles(
        root=folder / "root.pem",
        cert=folder / "order.pem",
        key=folder / "order.key",
        wwdr=folder / "wwdr.cer",
        apns_key=folder / f"AuthKey_{APNS_KEY_ID}.p8",
        apns_public=apns.public_key(),
    )
    files.root.write_bytes(_pem(root))
    files.cert.write_bytes(_pem(signer))
    files.wwdr.write_bytes(wwdr.public_bytes(serialization.Encoding.DER))  # as Apple gives it
    files.key.write_bytes(
        signer_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    files.apns_key.write_bytes(
        apns.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
