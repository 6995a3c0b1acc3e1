"""pyserial URL handlers (``serial.protocol_handler_packages``): ``nl668://`` is :mod:`.protocol_nl668`.

``import emulator`` registers this package, so ``serial.serial_for_url("nl668://M910")``
works in any process that imported the emulator.
"""
