"""The exit statuses of ``accelbench``: the runner returns them, the CLI's
``run --help`` lists them (here, below both, so neither imports the other)."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING = 0, 1, 2, 3
EXIT_STATUS_HELP = """exit status:
  0    every case ran and is ok (cases skipped or unavailable count as ok only in
       the implicit smoke run, without --backend, or with --allow-unavailable)
  1    at least one case failed (error, timeout, crash, numerics, fence audit)
  2    bad input: nothing was run
  3    a backend named with --backend is unavailable here, or every case of it
       was skipped; or every case of a --suite was (one line each says why)
  128+N  interrupted by signal N (130: Ctrl-C, 143: SIGTERM); finished records stay"""
