"""The names that mark accelbench's files, one place each: the writers (harness) and the readers
(reports) import them from here, so neither imports the other for a string."""

RESULT_SCHEMA = "accelbench.result/1"
"""``schema`` of every result record (harness/records.py writes it, reports/load.py checks it)."""

PLAN_FILE, PLAN_SCHEMA = "plan.json", "accelbench.plan/1"
"""A results folder's plan: the cases of its latest run (accelbench.harness.planfile), so
``accelbench run --resume DIR`` can run them again. It holds no result."""

PLUGIN_SCHEMA = "accelbench.pytest-benchmark/2"
"""``extra_info["accelbench"]`` of every entry the accelbench pytest plugin writes."""
