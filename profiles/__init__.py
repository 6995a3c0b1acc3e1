"""The variant profiles, shipped as the package ``emulator.data.profiles`` (see setup.py)."""
