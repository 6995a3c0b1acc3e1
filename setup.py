"""Only what pyproject.toml cannot say: the top-level data directories as packages.

``profiles/`` and ``certs/`` stay at the repository's top level (the design
card's layout) and are mapped into the package as ``emulator.data.profiles``
and ``emulator.data.certs``. Every built artifact (wheel, sdist, a wheel built
from the sdist as pip does from a git URL) and editable installs carry them
this way, and the code finds them through importlib.resources
(emulator/data/__init__.py). pyproject.toml's ``packages.find`` cannot add
packages that live outside ``emulator/``, hence this file.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {
    "emulator.data.profiles": "profiles",
    "emulator.data.profiles.families": "profiles/families",
    "emulator.data.certs": "certs",
}

setup(
    packages=[*find_packages(include=["emulator", "emulator.*"]), *DATA_PACKAGES],
    package_dir=DATA_PACKAGES,
    package_data={
        "emulator": ["py.typed"],
        "emulator.modemctl": ["*.c"],  # built on the user's machine on first use (emulator/modemctl/build.py)
        "emulator.traceview": ["template.html"],  # the trace view's page (CSS and JS inline)
        "emulator.data.profiles": ["*.toml"],
        "emulator.data.profiles.families": ["*.toml"],
        "emulator.data.certs": ["*.pem", "*.key", "*.toml", "README.md"],
    },
    exclude_package_data={"emulator.data.certs": ["make_certs.py"]},
)
