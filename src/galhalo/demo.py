"""The main job on the embedded default data set (``galhalo demo``).

Simulate the default universe, train a conditional flow on 80% of it, sample a mock for
the held-out 20%, score the mock against the known truth, and write the evaluation
report (report.html: :func:`galhalo.report.build.build_report`) for the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalog import Catalog, check_output_path, write_catalog
from .catalog.schema import GALAXY, HALO
from .errors import OutputPathError
from .files import check_writable, write_json

CONDITION, TARGET = HALO, GALAXY
#: Model draws per held-out row in the demo's report (the fewest evaluate accepts: quick).
REPORT_SAMPLES = 5


@dataclass
class DemoResult:
    """What the demo made: the catalog, the files written, and the scores (if trained)."""

    catalog: Catalog
    written: list[Path] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    report: Path | None = None


def run_demo(out_dir: str | Path = "demo", n_halos: int = 100_000, seed: int = 42,
             epochs: int = 30, progress: Callable[[str], None] | None = None,
             report: bool = True) -> DemoResult:
    """Run the demo into ``out_dir``; ``epochs=0`` only simulates.

    Writes catalog.parquet, overview.png and, when training: flow/, mock.parquet,
    metrics.json (held-out NLL of the flow and of the exact truth, nats per galaxy),
    mock_vs_truth.png and (unless ``report=False``) report.html, the evaluation report of
    the flow on the held-out rows (:data:`REPORT_SAMPLES` draws per row). Every output
    path is checked before any work.
    """
    from .report.catalog_figure import catalog_overview
    from .sim.universe import UniverseConfig, simulate

    say = progress or (lambda message: None)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"output directory {out_dir} exists and is not a directory")
    config = UniverseConfig(n_halos=n_halos, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog_path = check_output_path(out_dir / "catalog.parquet")
    figure_path = check_writable(out_dir / "overview.png")
    report_path = check_writable(out_dir / "report.html") if epochs > 0 and report else None
    catalog = simulate(config=config, progress=say)
    result = DemoResult(catalog, [write_catalog(catalog, catalog_path)])
    result.written.append(catalog_overview(
        catalog, figure_path, title=f"galhalo default universe (seed {seed})"))
    if epochs > 0:
        _train_and_score(result, out_dir, seed, epochs, say, report_path)
    return result


def _train_and_score(result: DemoResult, out_dir: Path, seed: int, epochs: int, say,
                     report_path: Path | None = None) -> None:
    from .mock import make_mock
    from .models import model_family
    from .report.comparison_figure import marginals_comparison
    from .sim.truth import TruthModel

    catalog = result.catalog
    held_out = np.random.default_rng(seed).random(len(catalog)) < 0.2
    train, test = catalog.select(~held_out), catalog.select(held_out)
    say(f"training a flow on {len(train):,} centrals (80%; early stopping on 20% of them)")
    model = model_family("flow")(epochs=epochs).fit(train, CONDITION, TARGET, seed=seed)
    result.written.append(model.save(out_dir / "flow"))
    say(f"sampling a mock for the {len(test):,} held-out halos")
    mock = make_mock(model, test, 1, seed)
    result.written.append(write_catalog(mock, out_dir / "mock.parquet"))
    truth = TruthModel.from_dict(catalog.meta.truth)
    flow_nll = float(-model.log_prob(test.table, test.table).mean())
    truth_nll = float(-truth.log_prob(test.table, test.table).mean())
    result.metrics = {"held_out_rows": len(test), "flow_nll": flow_nll,
                      "truth_nll": truth_nll, "flow_minus_truth_nll": flow_nll - truth_nll,
                      "training": model.metrics}
    result.written.append(write_json(out_dir / "metrics.json", result.metrics))
    result.written.append(marginals_comparison(
        test.table, mock.table, model.target, out_dir / "mock_vs_truth.png",
        labels=("truth", "flow mock"), title="held-out halos: true galaxies vs flow samples"))
    if report_path is not None:
        from .report.build import build_report

        say(f"writing the evaluation report ({REPORT_SAMPLES} draws per held-out row)")
        result.report = build_report({"flow": model}, test, report_path,
                                     n_samples=REPORT_SAMPLES, seed=seed, progress=say,
                                     title="galhalo demo: flow vs truth on held-out halos")
        result.written.append(result.report)
