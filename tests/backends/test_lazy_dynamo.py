"""An eager torch case never imports torch._dynamo (issue 21: 2.4 s of start-up for
recompiles that cannot happen); a compiled one still counts its graphs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from accelbench.backends.torch_common import dynamo_graphs

EAGER_CASE = """
import sys
from accelbench.harness.measure import run_case
from accelbench.harness.plan import Case
record = run_case(Case(kernel="gemm", preset="tiny", backend="torch-cpu", steps=2, warmup=1, repeats=2), "t")
print(record.status, "torch._dynamo" in sys.modules)
"""


@pytest.mark.slow
def test_an_eager_torch_case_does_not_import_dynamo():
    out = subprocess.run([sys.executable, "-c", EAGER_CASE], capture_output=True, text=True, timeout=300)
    assert out.stdout.split()[-2:] == ["ok", "False"], out.stderr[-2000:]


def test_no_graphs_without_dynamo_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch._dynamo", raising=False)
    assert dynamo_graphs() == 0
