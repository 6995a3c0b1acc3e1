"""``python -m emulator.fleet``: print the shipped locustfile's path (``locust -f "$(python -m emulator.fleet)"``)."""

import sys
from pathlib import Path

from ..stdout import emit

sys.exit(0 if emit(str(Path(__file__).with_name("locustfile.py"))) else 1)
