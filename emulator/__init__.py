"""NL668 SSL AT firmware emulator."""

import serial as _serial

# pyserial's URL convention: ``serial.serial_for_url("nl668://...")`` finds emulator.pyserial_urls.protocol_nl668.
if "emulator.pyserial_urls" not in _serial.protocol_handler_packages:
    _serial.protocol_handler_packages.append("emulator.pyserial_urls")
