"""Modem-control lines (DTR/RTS/CTS/DSR/CD) on the emulator's PTY, for unmodified host programs.

``nl668_modemctl.c`` is an LD_PRELOAD library answering the ``TIOCM*`` ioctls on the emulator's PTY;
``build.py`` compiles it on first use; ``lines.py`` is the emulator's side (the lines, a unix socket);
``wrapper.py`` is ``nl668-emu run -- HOST...``. See README "Modem-control lines".
"""
