"""Finding and reading profile files: the edge around :mod:`emulator.core.profile_parse`.

Profiles are searched, in order, in each directory of ``$NL668_PROFILES``
(``os.pathsep``-separated) and then in the shipped profiles (the repository's
``profiles/``, installed as :mod:`emulator.data.profiles`); the
first directory holding a name wins, so a user directory can shadow a shipped
profile. Names match file stems case-insensitively (``nl668_am_00`` finds
``NL668_AM_00.toml``). A variant's ``based_on = "<FAMILY>"`` is looked up in
``families/`` beside the variant first, then in ``families/`` of each search
directory.

Parsed profiles are cached per file (keyed on its path, modification time and
size, and the search path), because many modules in one process load the same
profile. Editing a family file does not invalidate the cache of variants
already loaded in the process.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any

from .core.errors import ProfileError
from .core.profile import Profile
from .core.profile_parse import parse_profile
from .data import PROFILES_PACKAGE, MissingDataError, data_dir

#: what ``make run`` and the CLI use when no profile is named
DEFAULT_PROFILE = "NL668_AM_00"
#: environment variable with extra profile directories, searched first
PROFILES_ENV = "NL668_PROFILES"
FAMILIES_DIR = "families"


def shipped_profiles_dir() -> Path | None:
    """The profiles installed with the package, or None when the install lacks them (then only
    ``$NL668_PROFILES`` is searched, and finding nothing is an error the caller reports)."""
    try:
        return data_dir(PROFILES_PACKAGE)
    except MissingDataError:
        return None


def profile_search_path() -> list[Path]:
    """Directories searched for profile names, first match wins."""
    extra = os.environ.get(PROFILES_ENV, "")
    shipped = shipped_profiles_dir()
    return [*(Path(d) for d in extra.split(os.pathsep) if d), *([shipped] if shipped else [])]


def list_profiles() -> list[str]:
    """Variant names that :func:`load_profile` accepts, sorted; family files are not profiles.

    Raises:
        ProfileError: no profile at all on the search path (a broken install or a wrong
            ``$NL668_PROFILES`` with the shipped ones missing): never an empty list.
    """
    names: dict[str, str] = {}
    search = profile_search_path()
    for directory in search:
        for path in _toml_files(directory):
            names.setdefault(path.stem.casefold(), path.stem)
    if not names:
        searched = os.pathsep.join(map(str, search)) or "nothing: no shipped profiles and $NL668_PROFILES unset"
        raise ProfileError("profiles", "$", f"no profile found (searched {searched}); reinstall nl668-emulator "
                           f"or point ${PROFILES_ENV} at a directory of profile files")
    return sorted(names.values())


def load_profile(name_or_path: str | Path) -> Profile:
    """Loads a profile by name (case-insensitive) or by the path of a ``.toml`` file.

    Args:
        name_or_path: a variant name such as ``"NL668_AM_00"``, or a path to a
            profile file (a :class:`~pathlib.Path`, or a string ending in
            ``.toml`` or containing a directory separator).

    Raises:
        ProfileError: no such profile (the message lists the known ones), the
            file is not valid TOML, or a field is invalid.
    """
    search = tuple(profile_search_path())
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(str(path), "$", "no such profile file")
        by_name = False
    else:
        name = str(name_or_path)
        found = _find(name, search)
        if found is None:
            try:
                known = ", ".join(list_profiles())
            except ProfileError:
                known = "none"
            searched = os.pathsep.join(map(str, search))
            raise ProfileError(name, "$", f"no such profile; known profiles: {known} (searched {searched})")
        path = found
        by_name = True
    path = path.resolve()
    stat = path.stat()
    profile = _load(path, (stat.st_mtime_ns, stat.st_size), search)
    if by_name and profile.name != path.stem:
        # list_profiles() reports stems; a name that differs would make the list lie.
        raise ProfileError(str(path), "$.name", f"{profile.name!r} differs from the file name {path.stem!r}")
    return profile


def _looks_like_path(name_or_path: str | Path) -> bool:
    if isinstance(name_or_path, Path):
        return True
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return name_or_path.endswith(".toml") or any(sep in name_or_path for sep in seps)


def _toml_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob("*.toml") if p.is_file())
    except OSError:
        return []


def _find(name: str, directories: tuple[Path, ...] | list[Path]) -> Path | None:
    """First file whose stem is ``name``, preferring an exact-case match within a directory."""
    wanted = name.casefold()
    for directory in directories:
        matches = [p for p in _toml_files(directory) if p.stem.casefold() == wanted]
        exact = [p for p in matches if p.stem == name]
        if exact:
            return exact[0]
        if len(matches) > 1:
            raise ProfileError(name, "$", f"ambiguous in {directory}: {', '.join(p.name for p in matches)}")
        if matches:
            return matches[0]
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), "$", f"not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(str(path), "$", f"cannot read: {exc.strerror or exc}") from exc


@functools.lru_cache(maxsize=64)
def _load(path: Path, stamp: tuple[int, int], search: tuple[Path, ...]) -> Profile:
    """``stamp`` (mtime, size) is only part of the cache key, so a rewritten file is read again."""
    data = _read(path)
    based_on = data.get("based_on")
    if not isinstance(based_on, str) or not based_on:
        # Absent, or a bad value that parse_profile reports with its path.
        return parse_profile(data, where=str(path))
    family_dirs = [path.parent / FAMILIES_DIR, *(d / FAMILIES_DIR for d in search)]
    family_path = _find(based_on, family_dirs)
    if family_path is None:
        searched = os.pathsep.join(map(str, dict.fromkeys(family_dirs)))
        raise ProfileError(str(path), "$.based_on", f"no family file {based_on!r}.toml (searched {searched})")
    return parse_profile(data, where=str(path), family=_read(family_path), family_where=str(family_path))
