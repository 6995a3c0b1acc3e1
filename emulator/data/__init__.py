"""The data that ships with the code: the variant profiles and the test PKI.

The repository keeps them at its top level (``profiles/``, ``certs/``: the
design card's layout). The build backend maps them into this package
(``setup.py``: ``emulator.data.profiles`` -> ``profiles/``,
``emulator.data.certs`` -> ``certs/``), so a wheel, an sdist, a wheel built
from the sdist and an editable install all find them the same way, through
:mod:`importlib.resources`, and no code computes a path relative to the
source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PROFILES_PACKAGE = "emulator.data.profiles"
CERTS_PACKAGE = "emulator.data.certs"


class MissingDataError(RuntimeError):
    """The installed package lacks a data directory it ships with (a broken or partial install)."""


def data_dir(package: str) -> Path:
    """The directory on disk holding ``package``'s files (profiles or the PKI).

    OpenSSL loads certificates from files and profiles name sibling family
    files, so the data must be real files: an install that keeps packages in a
    zip archive is refused with a clear message.

    Raises:
        MissingDataError: the package is missing or not on the file system.
    """
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise MissingDataError(f"{package} is not installed with the emulator (reinstall nl668-emulator)") from exc
    if not isinstance(root, Path) or not root.is_dir():
        raise MissingDataError(f"{package} is not a directory on disk ({root!r}); install nl668-emulator unzipped")
    return root
