"""Fleets of emulated modules for Locust: many modules per process, reported to Locust's statistics.

* :mod:`emulator.fleet.hosting`: the modules' asyncio loop on a real OS thread inside a gevent process
  (why, and how the greenlets and the loop meet);
* :mod:`emulator.fleet.module`: :class:`FleetModule`, one module driven through ``AtClient``, reporting each
  AT exchange and network outcome;
* :mod:`emulator.fleet.scenarios`: ``tls-connect``, ``tls-echo``, ``reconnect-storm`` and their settings;
* :mod:`emulator.fleet.users`: the Locust user classes and the ``--nl668-*`` options;
* :mod:`emulator.fleet.locustfile`: the locustfile to run (``python -m emulator.fleet`` prints its path).

Needs the ``fleet`` extra (``pip install 'nl668-emulator[fleet]'``: Locust, hence gevent).
"""
