"""The harness: how a case is measured (runner, timing, statistics, numerics,
metrics, records) and the command line."""
