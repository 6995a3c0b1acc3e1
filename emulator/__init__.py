"""NL668 SSL AT firmware emulator."""
