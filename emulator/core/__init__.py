"""The firmware, sans I/O: bytes and events in, ordered actions out.

Nothing here touches a socket, a PTY, a thread or the wall clock
(``tests/core/test_core_is_sans_io.py`` enforces it). Read ``module.py`` first,
then the command table in ``commands/``.
"""
