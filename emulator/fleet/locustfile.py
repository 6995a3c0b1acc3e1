"""The shipped locustfile: a fleet of emulated NL668/M910 modules (``emulator.fleet``), no code to write.

::

    locust -f "$(python -m emulator.fleet)" --headless -u 1000 -r 100 -t 60s \\
        --host tls://broker.example.test:8883 --nl668-resolve broker.example.test=127.0.0.1 \\
        --nl668-scenario tls-echo --nl668-rate 1 --nl668-profiles NL668_EU_00:70,M910:30 \\
        --nl668-trust ca.pem

Distributed: the same with ``--master`` (``--expect-workers K``) and ``--worker --master-host ADDR`` on each
machine; the ``--nl668-*`` options given to the master reach the workers. Options: ``--help`` (group "NL668
fleet"), or the ``NL668_*`` environment variables. The modules connect to the ``--host`` target only,
rewritten by ``--nl668-resolve``; the default target is ``tls://127.0.0.1:443``.
"""

from emulator.fleet.users import FleetUser

__all__ = ["FleetUser"]
