"""The published reference points (facts/data/references.toml): the file
loads, every figure is what its source says once converted, and a bad entry
fails with one line naming the file, the entry and the field, as the device
catalog does."""

from __future__ import annotations

import tomllib

import pytest

from accelbench.facts.catalog import CatalogError
from accelbench.harness.cli import main
from accelbench.reports.references import REFERENCES_FILE, load_references

GOOD = tomllib.loads(REFERENCES_FILE.read_text())["references"]["trn1-llama3.1-8b-nxd"]


def test_the_built_in_references_load_and_are_sourced():
    refs = load_references()
    assert {r.hardware for r in refs.values()} == {"trn1", "h100-sxm", "h200", "tpu-v6e"}
    assert all(r.workload == "llama:8b" and r.source.startswith("https://") for r in refs.values())
    trn1 = refs["trn1-llama3.1-8b-nxd"]
    # the CSV row: 47.95 sequences/s of 8192 tokens over 32 trn1.32xlarge (16 chips each)
    assert trn1.tokens_per_s_per_chip == pytest.approx(47.95 * 8192 / (32 * 16), abs=0.05)
    assert refs["v6e-llama3.1-8b-maxtext"].mfu == pytest.approx(0.4546)


def entry_toml(**changes) -> str:
    entry = {**GOOD, **changes}
    entry = {k: v for k, v in entry.items() if v is not None}

    def toml_value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        return repr(v)

    return '[references."x"]\n' + "\n".join(f"{k} = {toml_value(v)}" for k, v in entry.items()) + "\n"


@pytest.mark.parametrize("changes, needle", [
    ({"hardware": "trn9"}, "unknown hardware 'trn9'"),
    ({"workload": "llama:9000b"}, "'workload' 'llama:9000b': unknown preset '9000b'"),
    ({"tokens_per_s_per_chip": -1}, "'tokens_per_s_per_chip' must be a positive number"),
    ({"tokens_per_s_per_chip": "767"}, "'tokens_per_s_per_chip' must be a positive number"),
    ({"chips": 0}, "'chips' must be a whole number of 1 or more"),
    ({"precision": "fp4"}, "unknown precision 'fp4'"),
    ({"instance": "p9.48xlarge"}, "unknown instance 'p9.48xlarge'"),
    ({"source": None}, "'source' must be a non-empty string"),
    ({"as_of": "last year"}, "'as_of' must be a date"),
    ({"confirmed": "yes"}, "'confirmed' must be true or false"),
    ({"mfu": 1.5}, "'mfu' must be a fraction"),
    ({"colour": "red"}, "unknown field 'colour'"),
])
def test_a_bad_entry_is_one_line_naming_file_entry_and_field(tmp_path, changes, needle):
    path = tmp_path / "references.toml"
    path.write_text(entry_toml(**changes))
    with pytest.raises(CatalogError) as info:
        load_references(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: [references.\"x\"]: ") and needle in message, message


def test_a_good_entry_in_a_file_of_its_own_loads(tmp_path):
    path = tmp_path / "references.toml"
    path.write_text(entry_toml())
    assert load_references(path)["x"].chips == 512


def test_report_with_references_alone_lists_them(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--references"]) == 0
    out = capsys.readouterr().out
    assert "## llama:8b" in out and out.count("| published: ") == 8  # headline and detail
    assert "cheapest is" in out and "fastest is" in out
