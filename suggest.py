""""Did you mean …?" for a name the user mistyped (a kernel, preset, backend, suite, --set key).

Standard library only, so every layer (kernels, backends, harness) can use it.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_EDITS = 2
"""Two edits catch a dropped, doubled or swapped letter (``gtp2``, ``gemmm``) without suggesting unrelated names."""


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions; a swap counts two)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice equal to ``name`` but for case, else the nearest one within ``MAX_EDITS`` edits
    (ignoring case, and shorter than the name itself so a 2-letter name is not 'near' everything)."""
    choices = list(choices)
    folded = name.casefold()
    for choice in choices:
        if choice.casefold() == folded:
            return choice
    scored = sorted((edit_distance(folded, c.casefold()), c) for c in choices)
    if scored and scored[0][0] <= min(MAX_EDITS, max(1, len(name) // 3)):
        return scored[0][1]
    return None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` or ``""``: a suffix for an "unknown …" message."""
    match = closest(name, choices)
    return f" (did you mean '{match}'?)" if match is not None else ""


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``"1 case"``, ``"2 cases"``; ``many`` for irregular plurals."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
