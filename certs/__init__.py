"""The committed test PKI, shipped as the package ``emulator.data.certs`` (see setup.py)."""
