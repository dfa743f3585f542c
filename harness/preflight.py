"""Checks on what a command will write, and on flags that contradict each
other, made before anything runs: a bad ``--out`` or ``--report`` is one
``PlanError`` line at the start instead of a traceback, or a lost report,
after a whole sweep.

A folder is checked by doing what the run will do, in miniature: a temporary
folder is made and removed where the results folder would be created (or a
temporary file inside it, when it exists). Permission bits alone would say
yes to root on a read-only mount or under /proc.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from accelbench.harness.plan import PlanError


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder_writable(path: str | os.PathLike, flag: str) -> None:
    """``path`` is a folder that exists and takes new files, or one that can be
    created; PlanError naming ``flag`` otherwise. Nothing is left behind."""
    path = Path(path)
    if str(path) == "":
        raise PlanError(f"{flag} '': expected a folder path")
    if path.exists() and not path.is_dir():
        raise PlanError(f"{flag} {path}: exists and is not a folder")
    base = path if path.exists() else _nearest_existing(path)
    if not base.is_dir():
        raise PlanError(f"{flag} {path}: cannot be created: {base} is a file, not a folder")
    try:
        if path.exists():
            fd, probe = tempfile.mkstemp(prefix=".accelbench-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".accelbench-probe-", dir=base))
    except OSError as exc:
        what = "cannot be written" if path.exists() else f"cannot be created in {base}"
        raise PlanError(f"{flag} {path}: {what} ({exc.strerror or exc})") from None


def check_file_writable(path: str | os.PathLike, flag: str) -> None:
    """A report file can be written at ``path`` (its folder exists or can be made)."""
    path = Path(path)
    if str(path) in ("", "."):
        raise PlanError(f"{flag} '': expected a file path")
    if path.is_dir():
        raise PlanError(f"{flag} {path}: is a folder; expected a file path")
    try:
        check_folder_writable(path.parent, flag)
    except PlanError as exc:
        why = str(exc).split(": ", 1)[1]
        raise PlanError(f"{flag} {path}: its folder {path.parent} {why}") from None


def report_paths(report: str | None, out: Path) -> tuple[Path, Path]:
    """The Markdown and HTML report files of a run: ``--report FILE.html``
    names the HTML one (the Markdown goes beside it as FILE.md), any other
    name the Markdown one; by default ``OUT/report.md`` and ``OUT/report.html``."""
    path = Path(report) if report else out / "report.md"
    if path.suffix.lower() in (".html", ".htm"):
        return path.with_suffix(".md"), path
    return path, path.with_suffix(".html")


def check_run_flags(args) -> None:
    """Flags of ``accelbench run`` that cannot be honoured together."""
    if args.quiet and args.progress not in (None, "auto"):
        raise PlanError(f"--quiet and --progress {args.progress} contradict each other; give one of them")
    if isinstance(args.resume, str) and not args.resume.strip():
        raise PlanError("--resume '': expected a results folder; accepted: --resume DIR, or --resume alone "
                        "for the --out folder (default: results/latest)")


def resolve_pricing(instance: str | None, usd_per_hour: float | None, prices_file: str | None,
                    chips_per_instance: int | None = None, given_by: str = "accelbench run",
                    tier: str | None = None):
    """Check the pricing flags before anything runs: a ``harness.cost.PriceChoice``,
    or None when nothing is to be priced; CatalogError names what was wrong and what is accepted.
    ``tier`` (--tier) picks how the instance is bought; None: the entry's own price."""
    import math

    from accelbench.facts.catalog import CatalogError, at_tier, find, load_prices
    from accelbench.harness.cost import PriceChoice

    if tier is not None and instance is None:
        raise CatalogError(f"--tier {tier} needs --instance NAME (a price-list entry and its tiers: "
                           "`accelbench prices`); a --usd-per-hour price has no tiers")
    if instance is not None and usd_per_hour is not None:
        raise CatalogError("--instance and --usd-per-hour cannot be used together; give one")
    if chips_per_instance is not None:
        if isinstance(chips_per_instance, bool) or not isinstance(chips_per_instance, int) or chips_per_instance < 1:
            raise CatalogError(f"--chips-per-instance must be a positive whole number of chips, got {chips_per_instance}")
        if instance is None and usd_per_hour is None:
            raise CatalogError("--chips-per-instance needs a price: give --usd-per-hour X (the whole instance) "
                               "or --instance NAME")
    if usd_per_hour is not None:
        if not (isinstance(usd_per_hour, (int, float)) and math.isfinite(usd_per_hour) and usd_per_hour > 0):
            raise CatalogError(f"--usd-per-hour must be a positive number of US dollars (the whole instance's "
                               f"price per hour), got {usd_per_hour}")
        if prices_file is not None:
            load_prices(prices_file)  # still checked, so a bad file is never silently ignored
        return PriceChoice(usd_per_hour=float(usd_per_hour), chips_per_instance=chips_per_instance, given_by=given_by)
    if instance is None:
        if prices_file is not None:
            load_prices(prices_file)
        return None
    prices = load_prices(prices_file)
    price = find(prices, instance)
    if price is None:
        raise CatalogError(f"unknown instance '{instance}'; accepted: {', '.join(sorted(prices))}"
                           + ("" if prices_file else " (or add it with --prices FILE)"))
    price = at_tier(prices, price, tier)
    if price.usd_per_hour is None:
        raise CatalogError(f"instance '{instance}' has no known price ({price.note or 'none published'}); "
                           "give one with --usd-per-hour X or a --prices FILE entry")
    return PriceChoice(instance=price, chips_per_instance=chips_per_instance, given_by=given_by)
