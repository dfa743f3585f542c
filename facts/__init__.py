"""Facts every layer needs (catalog, package versions, host identity, exit statuses, schema names); imports nothing above it.

The bottom layer: ``catalog`` (devices.toml, prices.toml under ``data/``), ``envinfo`` (installed
versions, git commit, host), ``cpuinfo`` (what CPU and memory this host has), ``host`` and ``instances`` (the machine's
identity, read from metadata services, with sources), ``exitcodes`` and ``schema``. Layers, each importing only those below it: facts <- kernels <- backends <- harness <-
reports, with ``harness/cli.py`` on top (tests/test_layers.py checks it).
"""
