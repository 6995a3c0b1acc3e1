"""Access to the committed test PKI in ``certs/`` (TEST ONLY keys, public).

Tests and test servers read the committed files rather than generating keys,
so runs are fast and every test sees the same certificates.
"""

from __future__ import annotations

from pathlib import Path

#: The repository's ``certs/`` directory (regenerate with ``make certs``).
CERTS_DIR: Path = Path(__file__).resolve().parents[2] / "certs"


def cert_bytes(name: str) -> bytes:
    """Return the raw bytes of ``certs/<name>`` (a certificate, key or DH file)."""
    path = CERTS_DIR / name
    if Path(name).name != name or not path.is_file():
        raise FileNotFoundError(
            f"no test PKI file {name!r} in {CERTS_DIR} (regenerate with `make certs`)"
        )
    return path.read_bytes()
