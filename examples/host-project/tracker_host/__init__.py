"""Example host driver for a Fibocom NL668 (see README.md)."""

from .modem import Modem, ModemError

__all__ = ["Modem", "ModemError"]
