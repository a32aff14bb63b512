"""How version strings order for ``$veq``, ``$vgt`` and friends.

A version becomes a *padded version string* that orders correctly as plain text,
the way GrowthBook's ``paddedVersionString`` does it:

1. a number is first written the way JavaScript's ``String(number)`` writes it;
   anything that is not a non-empty string becomes ``"0"``;
2. a leading ``v`` and any ``+build`` metadata are removed;
3. the rest is split on ``.`` and ``-`` (so ``1.2.3-rc.1`` gives ``1 2 3 rc 1``);
4. exactly three parts (a release without a pre-release tag) get a ``~`` part
   appended, so ``1.0.0`` sorts after ``1.0.0-rc.1`` (``~`` is the last printable
   ASCII character);
5. all-digit parts are left-padded with spaces to width 5 and the parts are joined
   with ``-``. "Digit" is Python's ``str.isdigit`` (so ``"²"`` and ``"٣"`` count), as in
   GrowthBook's Python SDK; its JavaScript SDK pads only ASCII digits.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

from verdict.engine.jsonvalues import is_number

__all__ = ["js_number_to_string", "padded_version_string"]

_STRIP = re.compile(r"^v|\+.*$")
_SPLIT = re.compile(r"[-.]")
_PART_WIDTH = 5


def js_number_to_string(value: float) -> str:
    """Write a number the way JavaScript's ``String(number)`` does (ECMA-262 Number::toString)."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number):
        return "NaN"
    if number == 0:
        return "0"
    if number < 0:
        return "-" + js_number_to_string(-number)
    if math.isinf(number):
        return "Infinity"
    # repr gives the shortest digits that round-trip, as ECMA-262 asks for.
    _sign, digit_tuple, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    k = len(digits)
    n = exponent + k  # number == 0.<digits> * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
    power = n - 1
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


@lru_cache(maxsize=2048)
def _pad(text: str) -> str:
    parts = _SPLIT.split(_STRIP.sub("", text))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(part.rjust(_PART_WIDTH) if part.isdigit() else part for part in parts)


def padded_version_string(value: Any) -> str:
    """The text form of a version that compares correctly with ``<`` and ``==``."""
    if is_number(value):
        value = js_number_to_string(value)
    if not isinstance(value, str) or not value:
        value = "0"
    return _pad(value)
