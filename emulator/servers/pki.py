"""Access to the test PKI (TEST ONLY keys, public): the repository's ``certs/``, shipped with the package.

Tests, the lab and the test servers read the committed files rather than
generating keys, so runs are fast and every run sees the same certificates.
Found through :mod:`importlib.resources` (:mod:`emulator.data`), so an installed
wheel has them as the checkout does.
"""

from __future__ import annotations

from pathlib import Path

from ..data import CERTS_PACKAGE, data_dir

#: The test PKI directory (in the checkout: ``certs/``; regenerate with ``make certs``).
CERTS_DIR: Path = data_dir(CERTS_PACKAGE)


class MissingPkiFile(FileNotFoundError):
    """A test PKI file is missing or unreadable; the message names it and what to do."""


def pki_path(name: str | Path) -> Path:
    """The file ``name`` of the test PKI (a bare name), or ``name`` itself when it is an absolute path,
    checked readable, for a library that loads it by path (OpenSSL, tlslite).

    Raises:
        MissingPkiFile: the file is missing or unreadable (an ``OSError`` naming it and what to do).
    """
    path = CERTS_DIR / name
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise MissingPkiFile(
            exc.errno, f"{exc.strerror}: reinstall nl668-emulator, or in a checkout run `make certs`", str(path)
        ) from exc
    return path


def cert_bytes(name: str) -> bytes:
    """Return the raw bytes of ``certs/<name>`` (a certificate, key or DH file)."""
    path = CERTS_DIR / name
    if Path(name).name != name:
        raise MissingPkiFile(f"{name!r} is not a test PKI file name (a bare name in {CERTS_DIR})")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MissingPkiFile(
            f"test PKI file {path} cannot be read ({exc.strerror}): reinstall nl668-emulator, "
            "or in a checkout regenerate it with `make certs`"
        ) from exc
