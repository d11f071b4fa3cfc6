"""Signing an attestation's manifest with Ed25519, and the signatures each attestation carries.

A signer holds a private key in a file of their own, outside the data home (`backed keys new` writes it with mode
0600 and a public file beside it naming the signer and their role). What is signed is the manifest's canonical bytes
themselves, so anyone can check a signature with the manifest and the public key alone (`openssl pkeyutl -verify
-rawin`, or any Ed25519 library). The signatures of an attestation are kept beside its manifest, one record per
signer, each naming the digest it covers; a key's bytes are never logged, printed or copied anywhere.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from foundation.lake import write_text_atomically

# Who signs: the report's preparer, its reviewer and its approver; a monthly report's certification adds the chief
# executive and the chief financial officer.
ROLES = ("preparer", "reviewer", "approver", "chief executive officer", "chief financial officer")


class SigningError(Exception):
    """A key that cannot be read or used, or a signature that does not verify."""


@dataclass(frozen=True)
class Signer:
    name: str
    role: str
    public_key: str  # raw 32 bytes, hex

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_key)


@dataclass(frozen=True)
class SignatureRecord:
    digest: str
    name: str
    role: str
    public_key: str
    fingerprint: str
    signed_at: str
    signature: str

    def as_json(self) -> dict:
        return asdict(self)

    def holds_for(self, manifest_bytes: bytes) -> bool:
        """Whether this signature is the signer's over exactly these manifest bytes."""
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
            key.verify(bytes.fromhex(self.signature), manifest_bytes)
        except (InvalidSignature, ValueError):
            return False
        return fingerprint_of(self.public_key) == self.fingerprint


def fingerprint_of(public_key_hex: str) -> str:
    """A public key's fingerprint: the first 16 bytes of its sha256, hex, in groups of four."""
    hexed = hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:32]
    return ":".join(hexed[i:i + 4] for i in range(0, 32, 4))


def public_file_of(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def new_key_pair(key_path: Path, name: str, role: str) -> Signer:
    """Write a new Ed25519 private key to `key_path` (PEM, PKCS#8, created with mode 0600 and never world-readable
    in between) and its public file beside it (`<key>.pub`, JSON: name, role, public key, fingerprint)."""
    if role not in ROLES:
        raise SigningError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    if key_path.exists():
        raise SigningError(f"{key_path} exists: a key is never overwritten; choose another path")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(key_path, 0o600)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    signer = Signer(name=name, role=role, public_key=public)
    public_file_of(key_path).write_text(json.dumps(
        {"name": name, "role": role, "public_key": public, "fingerprint": signer.fingerprint}, indent=2) + "\n")
    return signer


def _private_key(key_path: Path) -> Ed25519PrivateKey:
    if not key_path.is_file():
        raise SigningError(f"no key file at {key_path}; `backed keys new PATH --name NAME --role ROLE` makes one")
    if key_path.stat().st_mode & 0o077:
        raise SigningError(f"{key_path} can be read by others (mode {oct(key_path.stat().st_mode & 0o777)}): "
                           f"`chmod 600 {key_path}` first")
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{key_path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{key_path} is not an Ed25519 key")
    return key


def signer_of(key_path: Path, name: str | None = None, role: str | None = None) -> Signer:
    """The signer a key file belongs to: its public file's name and role, unless given here."""
    key = _private_key(key_path)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    described = {}
    if public_file_of(key_path).is_file():
        described = json.loads(public_file_of(key_path).read_text())
        if described.get("public_key") != public:
            raise SigningError(f"{public_file_of(key_path)} describes another key than {key_path}")
    name = name or described.get("name")
    role = role or described.get("role")
    if not name or not role:
        raise SigningError(f"who signs with {key_path}? give --name and --role (its .pub file does not say)")
    if role not in ROLES:
        raise SigningError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    return Signer(name=name, role=role, public_key=public)


def sign_manifest(key_path: Path, manifest_bytes: bytes, digest: str, *, name: str | None = None,
                  role: str | None = None, at: datetime | None = None) -> SignatureRecord:
    signer = signer_of(key_path, name, role)
    signature = _private_key(key_path).sign(manifest_bytes).hex()
    signed_at = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0).isoformat()
    return SignatureRecord(digest=digest, name=signer.name, role=signer.role, public_key=signer.public_key,
                           fingerprint=signer.fingerprint, signed_at=signed_at, signature=signature)


def read_signatures(path: Path) -> list[SignatureRecord]:
    if not path.exists():
        return []
    return [SignatureRecord(**record) for record in json.loads(path.read_text())]


def write_signatures(path: Path, records: list[SignatureRecord]) -> None:
    """Every signature of the attestation, in the order of the roles, then of signing."""
    ordered = sorted(records, key=lambda r: (ROLES.index(r.role) if r.role in ROLES else len(ROLES), r.signed_at,
                                             r.fingerprint))
    write_text_atomically(path, json.dumps([r.as_json() for r in ordered], indent=2, sort_keys=True) + "\n")


def add_signature(path: Path, record: SignatureRecord) -> bool:
    """Add `record` to the signatures at `path`; a key signs a digest once (signing again changes nothing).
    Returns whether it was added."""
    records = read_signatures(path)
    if any(r.digest == record.digest and r.public_key == record.public_key for r in records):
        return False
    write_signatures(path, [*records, record])
    return True
