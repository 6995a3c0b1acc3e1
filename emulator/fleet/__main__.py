"""``python -m emulator.fleet``: print the shipped locustfile's path (``locust -f "$(python -m emulator.fleet)"``)."""

from pathlib import Path

print(Path(__file__).with_name("locustfile.py"))
