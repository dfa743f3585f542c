"""accelbench: what a training token costs on Trainium, Nvidia GPUs and TPUs.

The repository root is this package (``pyproject.toml`` maps ``accelbench`` to
``.``), so ``kernels/``, ``backends/``, ``harness/`` and ``reports/`` stay
top-level folders while installing as ``accelbench.kernels`` and so on.
Importing it imports nothing heavy.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("accelbench")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
