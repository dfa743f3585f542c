"""Command-line values with units: ``$55.04``, ``55.04/h``, ``5%``, ``5m``, ``300s``.

Each parser takes the text a user typed and returns the number in the unit the
option is documented in, or raises ``argparse.ArgumentTypeError`` with what is
accepted (argparse turns it into ``argument --x: …``, one line, exit 2).
"""

from __future__ import annotations

import argparse
import math
import re

_NUMBER = r"(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_SECONDS_PER = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}


def _finite(value: float, text: str, accepted: str) -> float:
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number; accepted: {accepted}")
    return value


def usd_per_hour(text: str) -> float:
    """US dollars per hour: ``55.04``, ``$55.04``, ``55.04/h``, ``$55.04/hr``, ``55.04/hour``."""
    accepted = "US dollars per hour, e.g. 55.04, $55.04 or 55.04/h"
    match = re.fullmatch(r"\s*\$?\s*" + _NUMBER + r"\s*(?:/\s*(?:h|hr|hour))?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a price; accepted: {accepted}")
    return _finite(float(match.group(1)), text, accepted)


def percent(text: str) -> float:
    """A percentage: ``5`` or ``5%`` (both mean five percent)."""
    accepted = "a percentage, e.g. 5 or 5%"
    match = re.fullmatch(r"\s*" + _NUMBER + r"\s*%?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a percentage; accepted: {accepted}")
    return _finite(float(match.group(1)), text, accepted)


def seconds(text: str) -> float:
    """A duration in seconds: ``300``, ``300s``, ``5m``, ``5min``, ``1.5h``."""
    accepted = "seconds, e.g. 300, 300s, 5m or 1h"
    match = re.fullmatch(r"\s*" + _NUMBER + r"\s*([a-z]*)\s*", text, re.IGNORECASE)
    if not match or match.group(2).lower() not in _SECONDS_PER:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration; accepted: {accepted}")
    return _finite(float(match.group(1)) * _SECONDS_PER[match.group(2).lower()], text, accepted)


TOKENS_MAX = 1e15
"""More tokens than any training run has seen (frontier runs are ~1e13): a typo, not a job."""
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_TOKENS = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+]?\d+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_tokens(text: str) -> float:
    """``1e9``, ``500M``, ``2B``, ``1.5T``, ``1000000`` -> tokens; ValueError with what is accepted."""
    match = _TOKENS.match(str(text))
    accepted = "a positive token count such as 1e9, 500M, 2B or 1.5T (k, M, B, T suffixes), at most 1e15"
    if not match:
        raise ValueError(f"{text!r} is not a token count; accepted: {accepted}")
    tokens = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    if not math.isfinite(tokens) or tokens <= 0 or tokens > TOKENS_MAX:
        raise ValueError(f"{text!r} ({tokens:g} tokens) is out of range; accepted: {accepted}")
    return tokens
