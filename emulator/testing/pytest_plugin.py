"""pytest plugin (entry point ``nl668``): fixtures for emulated modules; filled in by issue 5."""
