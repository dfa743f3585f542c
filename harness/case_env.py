"""The environment variables the runner sets for its case processes (one place
for their names: the runner writes them, the case process reads them)."""

PARENT_PID_VAR = "ACCELBENCH_PARENT_PID"
"""The runner's pid: the pid the case process must not outlive. Its presence
also says the case runs in a session of its own (``harness.hostload``)."""
REFERENCE_CACHE_VAR = "ACCELBENCH_REFERENCE_CACHE"
"""The run's folder of float64 references its cases share (``harness.reference_cache``)."""
