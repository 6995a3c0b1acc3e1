"""Helpers shared by the test suite and test servers (committed test PKI, ...)."""
