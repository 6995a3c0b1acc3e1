"""A distinct IMEI, IMSI and ICCID for each module of a fleet, derived from the profile's one identity.

A device backend keys devices on the IMEI (MQTT client ids, device registries), and host drivers read
``AT+CGSN`` / ``AT+CIMI`` / ``AT+CCID`` at start, so N modules answering the profile's one identity would
look like one device connecting N times. Module index 0 keeps the profile's values exactly (chosen: a
single-module run, and every transcript recorded from one, stays byte-identical); index ``i > 0`` gets:

* **IMEI** (3GPP TS 23.003 §6.2.1: TAC 8 digits, SNR 6 digits, check digit): the same TAC, the SNR offset
  by ``i`` modulo 10^6, the Luhn check digit recomputed. Distinct for indexes 0 .. 999,999.
* **IMSI** (3GPP TS 23.003 §2.2: MCC 3 digits, MNC 2 or 3, MSIN): the first 6 digits kept (chosen: MCC and
  the longest MNC, so both MNC lengths stay whole without knowing which the profile has), the rest offset by
  ``i`` modulo 10^its length (its length kept).
* **ICCID** (ITU-T E.118: ``89``, country code, issuer, account number, Luhn check digit): the first 7 digits
  kept (chosen: the longest issuer identification number E.118 allows), the account digits offset by ``i``
  modulo 10^their length. The profile parser does not demand a check digit (the L610's ICCID has none), so
  one is recomputed only if the profile's ICCID passes the Luhn check; otherwise the last digit is part of
  the account number.

ATI lines that quote one of the three (``IMEI: ...`` on most profiles) quote the derived value.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

from .profile import Identity, Profile

#: digits kept unchanged at the front of each value (see the module docstring)
TAC_DIGITS: Final = 8
IMSI_KEPT_DIGITS: Final = 6
ICCID_KEPT_DIGITS: Final = 7
#: each digit replaced by the digit sum of its double (Luhn's doubled positions)
_DOUBLED: Final = str.maketrans("0123456789", "0246813579")


def luhn_digit(payload: str) -> str:
    """The Luhn check digit that makes ``payload + digit`` pass (ISO/IEC 7812-1, as IMEI and ICCID use it)."""
    backwards = payload[::-1]
    # the digit next to the check digit, and every second one from there, is doubled
    total = sum(map(int, backwards[0::2].translate(_DOUBLED))) + sum(map(int, backwards[1::2]))
    return str(-total % 10)


def luhn_ok(digits: str) -> bool:
    """Whether the last digit of ``digits`` is the Luhn check digit of the others."""
    return len(digits) > 1 and luhn_digit(digits[:-1]) == digits[-1]


def _offset(digits: str, index: int) -> str:
    """``digits`` read as a number plus ``index``, wrapped to the same width."""
    if not digits:
        return digits
    width = len(digits)
    return str((int(digits) + index) % 10**width).zfill(width)


def unit_imei(imei: str, index: int) -> str:
    """Module ``index``'s IMEI: same TAC, serial number offset by ``index``, check digit recomputed."""
    body = imei[:TAC_DIGITS] + _offset(imei[TAC_DIGITS:-1], index)
    return body + luhn_digit(body)


def unit_imsi(imsi: str, index: int) -> str:
    """Module ``index``'s IMSI: same MCC+MNC, MSIN offset by ``index`` (same length)."""
    return imsi[:IMSI_KEPT_DIGITS] + _offset(imsi[IMSI_KEPT_DIGITS:], index)


def unit_iccid(iccid: str, index: int) -> str:
    """Module ``index``'s ICCID: same issuer prefix, account offset by ``index``, check digit kept valid if any."""
    if luhn_ok(iccid):
        body = iccid[:ICCID_KEPT_DIGITS] + _offset(iccid[ICCID_KEPT_DIGITS:-1], index)
        return body + luhn_digit(body)
    return iccid[:ICCID_KEPT_DIGITS] + _offset(iccid[ICCID_KEPT_DIGITS:], index)


def for_unit(identity: Identity, index: int) -> Identity:
    """The identity of module ``index`` of a fleet built on ``identity`` (index 0: ``identity`` itself)."""
    if index < 0:
        raise ValueError(f"module index {index} < 0")
    if index == 0:
        return identity
    derived = {
        "imei": unit_imei(identity.imei, index),
        "imsi": unit_imsi(identity.imsi, index),
        "iccid": unit_iccid(identity.iccid, index),
    }
    # Whole numbers only: an ATI line's "IMEI: 352..." changes, a longer digit run that merely contains it not.
    quoted = {getattr(identity, name): value for name, value in derived.items()}
    pattern = re.compile(r"(?<!\d)(" + "|".join(map(re.escape, quoted)) + r")(?!\d)")
    ati = tuple(pattern.sub(lambda m: quoted[m.group(1)], line) for line in identity.ati)
    return dataclasses.replace(identity, ati=ati, **derived)


def profile_for_unit(profile: Profile, index: int) -> Profile:
    """``profile`` with :func:`for_unit`'s identity for module ``index`` (index 0: ``profile`` itself)."""
    if index == 0:
        return profile
    return dataclasses.replace(profile, identity=for_unit(profile.identity, index))
