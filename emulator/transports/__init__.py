"""Host side: how bytes reach a module: a PTY, raw TCP, RFC 2217, or in-process buffers (``nl668://``).

Import the modules themselves (``emulator.transports.pty`` ...): this package imports none of them, because
the PTY needs ``termios``, which Windows lacks, and the in-process line must work there.
"""
