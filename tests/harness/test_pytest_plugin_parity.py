"""The pytest plugin behaves like `accelbench run` (issue 22): an unavailable backend named explicitly
fails its cases with run's reason; the options' help says what they do."""

from __future__ import annotations

import pytest

from accelbench import backends

pytest_plugins = ["pytester"]

UNAVAILABLE = next((n for n in ("torch-cuda", "torch-neuron", "jax-tpu") if not backends.availability(n).ok), None)


@pytest.mark.slow  # two inner pytest sessions
@pytest.mark.skipif(UNAVAILABLE is None, reason="every accelerator backend is available here")
def test_an_unavailable_backend_named_explicitly_fails_with_the_reason(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    args = ["--accelbench-backend", UNAVAILABLE, "--accelbench-kernel", "gemm:tiny", "-p", "no:cacheprovider"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    reason = backends.availability(UNAVAILABLE).reason
    assert f"backend {UNAVAILABLE} unavailable: {reason}" in result.stdout.str()
    result = pytester.runpytest_subprocess(*args, "--accelbench-allow-unavailable")
    result.assert_outcomes(passed=1, skipped=1)


def test_help_says_steps_are_per_window_and_repeats_are_rounds():
    from _pytest.config.argparsing import Parser

    from accelbench.harness.pytest_plugin import pytest_addoption

    parser = Parser()
    pytest_addoption(parser)
    options = parser.getgroup("accelbench").options
    helps = {o.names()[0]: o.attrs()["help"] for o in options}
    assert helps["--accelbench-steps"].startswith("steps per timed window") and "×" not in helps["--accelbench-steps"]
    assert helps["--accelbench-windows"].startswith("timed windows") and "rounds" in helps["--accelbench-windows"]
    assert any(o.names() == ["--accelbench-windows", "--accelbench-repeats"] for o in options)  # the older name too
