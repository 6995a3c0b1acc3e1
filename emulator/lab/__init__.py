"""The field-failure lab: one local TLS endpoint per failure a module meets in the field.

* :mod:`.scenarios`: the table (data): each scenario, its server and the module's outcome.
* :mod:`.server`: :class:`~emulator.lab.server.Lab`, every endpoint on 127.0.0.1 in-process.
* :mod:`.cli`: ``nl668-lab``.
"""

from __future__ import annotations

# First: importing tlslite-ng (the lab's legacy servers) warns about asyncore
# on Python 3.11; emulator.tls.legacy imports it with that warning silenced.
import emulator.tls.legacy  # noqa: F401
