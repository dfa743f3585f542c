"""Backend registry, fed by the entry-point group ``accelbench.backends``.

accelbench's own backends are registered in its ``pyproject.toml`` exactly as
a third-party package registers one, so there is one mechanism for both.
Loading a backend class imports its module only; no backend module imports
torch or JAX at import time.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from accelbench.backends.base import Availability, Backend, BackendError, BackendSettings, DeviceInfo, PreparedStep

GROUP = "accelbench.backends"


def _entry_points() -> dict:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if not found:
        raise BackendError(
            "no backends registered: accelbench is not installed in this environment "
            "(run `pip install -e .` in the project folder)"
        )
    return found


def names() -> list[str]:
    return sorted(_entry_points())


def get_class(name: str) -> type[Backend]:
    eps = _entry_points()
    if name not in eps:
        from accelbench.suggest import did_you_mean

        raise BackendError(f"unknown backend '{name}'{did_you_mean(name, eps)}; accepted: {', '.join(sorted(eps))}")
    return eps[name].load()


def availability(name: str) -> Availability:
    """Whether a backend can run here; a backend whose module fails to load
    is reported unavailable with the error, not raised."""
    try:
        return get_class(name).available()
    except BackendError:
        raise
    except Exception as exc:  # a broken third-party backend must not break listing
        return Availability.no(f"failed to load: {type(exc).__name__}: {exc}")


__all__ = [
    "Availability", "Backend", "BackendError", "BackendSettings", "DeviceInfo", "PreparedStep",
    "availability", "get_class", "names",
]
