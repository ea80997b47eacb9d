"""benchmarks/models.py: the table it writes into docs/models.md and benchmarks/README.md
comes from its JSON alone, so ``--from-json`` reproduces what a measuring run wrote."""

from __future__ import annotations

import pytest
from benchmark_modules import load_benchmark

models = load_benchmark("models.py", "benchmark_models")
docs = load_benchmark("_docs.py", "benchmark_docs_for_models")


def _row(family: str, excess: float, rate: float, **extra) -> dict:
    return {"family": family, "fit_seconds": 12.4, "loaded": False, "epochs": 30,
            "best_epoch": 10, "nll_minus_truth": excess, "nll_minus_truth_error": 0.0021,
            "sampling_galaxies_per_second_1": rate,
            "sampling_galaxies_per_second_10": 10 * rate, **extra}


RESULT = {
    "command": "python benchmarks/models.py --n-halos 5000", "variants": False,
    "n_halos": 5000, "seed": 42, "torch_threads": 2, "date": "2026-12-07 00:00 UTC",
    "machine": {"cpu_count": 2, "galhalo": "0.1.0", "commit": "abc1234"},
    "load_average": [1.0, 2.0], "train_rows": 4000, "test_rows": 1000, "truth_nll": -1.5,
    "rows": [_row("gauss", 0.7012, 250_000.0),
             _row("flow", 0.0304, 150_000.0, reference_galaxies_per_second_1=75_000.0,
                  reference_galaxies_per_second_10=300_000.0)],
}

DOC = "intro\n\n<!-- benchmark:models -->\nold\n<!-- /benchmark:models -->\n\nafter\n"


def test_results_table_holds_every_family_from_the_json():
    text = models.results_table(RESULT)
    lines = text.splitlines()
    assert lines[2] == ("| NNgauss | 0.701 ± 0.002 | 12 | 30 (10) | 250,000 | 2.50× | "
                        "2,500,000 | – |")
    # the fast sampler against zuko's: 150,000 / 75,000 and 1,500,000 / 300,000
    assert lines[3] == ("| flow | 0.030 ± 0.002 | 12 | 30 (10) | 150,000 | 1.50× | "
                        "1,500,000 | 2.0× / 5.0× |")
    assert "Held-out 1,000 galaxies" in text and "commit abc1234" in text


def test_write_docs_rewrites_the_block_of_every_document(tmp_path, monkeypatch):
    documents = (tmp_path / "models.md", tmp_path / "README.md")
    for document in documents:
        document.write_text(DOC)
    monkeypatch.setattr(models, "RESULT_DOCS", documents)
    models.write_docs(RESULT)
    for document in documents:
        text = document.read_text()
        assert "\nold\n" not in text and text.endswith("after\n")
        assert "<!-- written by `python benchmarks/models.py --n-halos 5000`" in text
        assert models.results_table(RESULT) in text


def test_variant_results_go_to_the_variant_block_only(tmp_path, monkeypatch):
    variants = {**RESULT, "variants": True,
                "rows": [{"variant": label, **_row("flow", 0.05, 1e5)}
                         for label, _ in models.VARIANTS]}
    document = tmp_path / "models.md"
    document.write_text(DOC.replace("benchmark:models", "benchmark:flow-variants"))
    monkeypatch.setattr(models, "VARIANTS_DOC", document)
    monkeypatch.setattr(models, "RESULT_DOCS", ())
    models.write_docs(variants)
    text = document.read_text()
    assert all(f"| {label} |" in text for label, _ in models.VARIANTS)


@pytest.mark.parametrize("argv, expected", [
    ([], "python benchmarks/models.py"),
    (["--families", "flow", "--epochs", "5", "--set", "members=2", "--out", "x.json"],
     "python benchmarks/models.py --families flow --epochs 5 --set members=2"),
    (["--variants", "--n-halos", "20000"],
     "python benchmarks/models.py --variants --n-halos 20000"),
])
def test_command_line_names_the_options_that_differ_from_the_defaults(argv, expected):
    parser = models.build_parser()
    assert models.command_line(parser.parse_args(argv), parser) == expected


def test_the_documents_hold_the_blocks_the_script_rewrites():
    """A run ends by rewriting these blocks: a missing marker would fail it then."""
    for document in models.RESULT_DOCS:
        assert "| NNgauss |" in docs.block(document, "models")
    assert "| variant |" in docs.block(models.VARIANTS_DOC, "flow-variants")


@pytest.mark.parametrize("label, changes", models.VARIANTS)
def test_every_variant_is_a_valid_flow(label, changes):
    """``--variants`` fits all of them in one long run: each must be accepted up front."""
    flow = models.model_family("flow")(**changes)
    for key, value in changes.items():
        assert flow.hyperparameters[key] == value, (label, key)


@pytest.mark.slow
def test_every_variant_fits_a_small_catalog():
    import galhalo

    catalog = galhalo.simulate(n_halos=2000, seed=3)
    train, test = models.split(catalog, 0.2, seed=3)
    for label, changes in models.VARIANTS:
        flow = models.model_family("flow")(**{**changes, "epochs": 1})
        flow.fit(train, models.CONDITION, models.TARGET, seed=0, progress=False)
        assert flow.log_prob(test.table, test.table).shape == (len(test),), label
