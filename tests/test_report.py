"""The evaluation report (galhalo.report.build) and its figures (report.model_figures).

One small report is built once per module (a seeded 1,000-row universe: a gauss model
trained two epochs on one half, scored with the truth model on the other half, plus a
clustering comparison) and parsed with html.parser: every figure is an embedded PNG,
every section is there, the tables have the models as columns. The figure test checks
that the drawn contours enclose their stated probability; bad input fails before work.
"""

from __future__ import annotations

import base64
import math
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as MplPath

from galhalo.catalog import Catalog
from galhalo.columns import GALAXY, HALO
from galhalo.evaluate.bias import BiasSettings, compare_clustering
from galhalo.evaluate.run import TruthConditional
from galhalo.evaluate.scenarios import PRESETS, ScenarioError, scenario
from galhalo.files import OutputPathError
from galhalo.mock import make_mock
from galhalo.models import model_family
from galhalo.report import model_figures as mf
from galhalo.report.build import build_report
from galhalo.report.model_figures import ReportError
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCENARIOS = ["whole", "M_h>11.5"]


class _Page(HTMLParser):
    """Images, h2 headings and tables (caption, header cells, body rows) of a page."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self.tables: list[dict] = []
        self._where: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "h2":
            self._where, self._cell = "h2", []
        elif tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": []})
        elif tag == "caption":
            self._where, self._cell = "caption", []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        text = "".join(self._cell or [])
        if tag == "h2":
            self.headings.append(text)
            self._where = None
        elif tag == "caption":
            self.tables[-1]["caption"] = text
            self._where = None
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(text)
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["header"]:
                table["header"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None
        if tag in ("td", "th", "h2", "caption"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def universe():
    catalog = simulate(n_halos=1000, box=60, seed=5)
    half = np.arange(len(catalog)) % 2 == 0
    return catalog.select(half), catalog.select(~half)


@pytest.fixture(scope="module")
def built(universe, tmp_path_factory):
    train, test = universe
    root = tmp_path_factory.mktemp("report")
    gauss = model_family("gauss")(epochs=2, hidden=(16, 16)).fit(
        train, HALO, GALAXY, seed=0, progress=False)
    gauss.save(root / "gauss")
    truth_draws = make_mock(TruthConditional(TruthModel.from_dict(test.meta.truth)), test, 1, 1)
    settings = BiasSettings(edges=tuple(np.geomspace(1, 12, 8)), fit_range=(2.0, 12.0),
                            nthreads=1)
    clustering = compare_clustering(test, {"truth draws": truth_draws}, "color:quantiles=2",
                                    settings=settings, shuffle_seed=None)
    messages: list[str] = []
    path = build_report({"gauss": root / "gauss", "truth": "truth"}, test,
                        root / "report.html", scenarios=SCENARIOS, n_samples=5, seed=3,
                        clustering=clustering, progress=messages.append,
                        command="galhalo report --model gauss --model truth")
    return path, _parse(path), messages


# ----------------------------------------------------------------------------- the page
def test_every_figure_is_an_embedded_png(built):
    path, page, _ = built
    # corner, scenario contours, 1-D histograms, calibration, importance, loss curves,
    # and the clustering xi(r) and b(r)
    assert len(page.images) == 8
    for source in page.images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        width, height = _png_size(base64.b64decode(source[len(prefix):], validate=True))
        assert width >= 300 and height >= 200
    # self-contained: no figure files beside the page, no leftovers of the atomic write
    assert [p.name for p in path.parent.iterdir() if p.is_file()] == ["report.html"]
    assert "src=\"http" not in path.read_text() and "<script" not in path.read_text()


def test_every_section_is_present(built):
    _, page, messages = built
    expected = ["Summary", "Comparison", "Corner plot", "Scenarios: color vs smass",
                "1-D distributions", "Calibration", "Feature importance", "Loss curves",
                "Model gauss", "Model truth", "Clustering"]
    assert page.headings == expected
    assert any(m.startswith("gauss: scenario") for m in messages)


def test_comparison_tables_have_the_models_as_columns_and_star_the_best(built):
    _, page, _ = built
    tables = [t for t in page.tables if t["header"][:2] == ["metric", "key"]
              and "best" in t["header"]]
    assert [t["caption"].split(":")[0] for t in tables] == SCENARIOS
    for table in tables:
        assert table["header"][2:4] == ["gauss", "truth"]
        stars = [sum("★" in cell for cell in row[2:4]) for row in table["rows"]]
        assert all(s <= 1 for s in stars) and sum(stars) > 0.8 * len(stars)
        for row in table["rows"]:
            best = row[table["header"].index("best")]
            if "★" in row[2]:
                assert best.startswith("gauss")
            if "★" in row[3]:
                assert best.startswith("truth")
    whole = {(row[0], row[1]): row for row in tables[0]["rows"]}
    # two epochs of a 16-unit network are far from the truth: the truth's NLL must win
    assert "★" in whole[("nll", "joint")][3] and "★" not in whole[("nll", "joint")][2]
    assert whole[("nll_vs_truth", "joint")][3].startswith("★ 0 ")


def test_summary_records_catalog_models_seed_and_command(built, universe):
    _, page, _ = built
    by_caption = {t["caption"]: t for t in page.tables}
    catalog_rows = dict(by_caption["catalog"]["rows"])
    assert catalog_rows["rows"] == f"{len(universe[1]):,}"
    models = by_caption["models"]
    assert [row[0] for row in models["rows"]] == ["gauss", "truth"]
    settings = dict(by_caption["settings"]["rows"])
    assert settings["seed"] == "3" and settings["command"].startswith("galhalo report")
    assert settings["scenarios"] == ", ".join(SCENARIOS)
    assert "galhalo" in dict(by_caption["versions"]["rows"])
    assert "gauss: configuration" in by_caption  # per-model sections
    assert any(t["caption"].startswith("large-scale bias") for t in page.tables)


def test_same_seed_same_page(universe, tmp_path):
    """Everything random is seeded: a second build is byte-identical (a two-target truth
    on 200 rows keeps this quick)."""
    test = universe[1].select(np.arange(len(universe[1])) < 200)
    model = {"pair": TruthConditional(TruthModel.from_dict(test.meta.truth), ("smass", "color"))}
    pages = [build_report(model, test, tmp_path / f"{name}.html", scenarios="whole",
                          n_samples=5, seed=3, importance=False, command="x").read_bytes()
             for name in ("a", "b")]
    assert pages[0] == pages[1]
    assert pages[0].count(b"data:image/png;base64,") == 4  # no loss curve for the truth


# ----------------------------------------------------------------------------- figures
def _inside(contour_paths, points: np.ndarray) -> np.ndarray:
    inside = np.zeros(len(points), dtype=bool)
    for polygon in contour_paths.to_polygons(closed_only=False):
        inside ^= MplPath(polygon).contains_points(points)
    return inside


def test_corner_contours_enclose_their_probability_for_a_gaussian():
    """The drawn 68% and 95% contours of a 2-D standard normal sample hold those shares of
    a fresh sample. Expected share: the smoothed histogram is the normal widened by a
    variance h^2/12 + (smooth h)^2 per axis, whose p-region holds 1 - (1 - p)^v of the
    unit normal (v = 1 + that variance). Tolerance: 4 binomial sd of the fitted and of
    the fresh sample combined, plus one cell's probability at the contour."""
    rng = np.random.default_rng(11)
    n = 20_000
    columns = ["smass", "color"]
    truth = pd.DataFrame(rng.standard_normal((n, 2)), columns=columns)
    model = pd.DataFrame(rng.standard_normal((n, 2)), columns=columns)
    figure = mf.corner_figure(truth, {"model": model}, columns)
    fresh = rng.standard_normal((n, 2))
    panel = figure.axes[2]  # row 1, column 0: color vs smass
    x_low, x_high = panel.get_xlim()
    h = (x_high - x_low) / mf.BINS
    variance = 1 + h**2 / 12 + (mf.SMOOTH * h) ** 2
    found = {}
    for collection in panel.collections:
        gid = collection.get_gid() or ""
        if hasattr(collection, "enclosed"):
            found[gid] = dict(zip(collection.enclosed, collection.get_paths(), strict=True))
    assert set(found) == {"contour:truth:smass:color", "contour:model:smass:color"}
    for paths in found.values():
        assert set(paths) == set(mf.LEVELS)
        for p, contour in paths.items():
            share = _inside(contour, fresh).mean()
            expected = 1 - (1 - p) ** variance
            cell = (1 - p) / (2 * math.pi) * h * h  # density at the contour x cell area
            tolerance = 4 * math.sqrt(2 * p * (1 - p) / n) + cell
            assert abs(share - expected) < tolerance, (p, share, expected, tolerance)


def test_enclosed_levels_pick_the_highest_density_cells():
    masses = np.array([[0.05, 0.4], [0.25, 0.3]])
    np.testing.assert_array_equal(mf.enclosed_levels(masses, (0.4, 0.5, 0.7, 0.96)),
                                  [0.4, 0.3, 0.3, 0.05])
    # a grid of probabilities holding 0.5 in all (half the sample off the grid)
    np.testing.assert_array_equal(mf.enclosed_levels(masses / 2, (0.2, 0.68)), [0.2, 0.025])
    with pytest.raises(ReportError, match="probabilities"):
        mf.enclosed_levels(masses, (0.5, 1.0))
    with pytest.raises(ReportError, match="empty"):
        mf.enclosed_levels(np.zeros((3, 3)))


def test_scenario_panels_follow_the_selection(universe):
    """Each panel shows only the selected halos: its title counts them and its range
    covers the selected stellar masses, not the whole catalog's."""
    table = universe[1].table
    high = PRESETS["whole"], scenario("M_h>12")
    figure = mf.scenario_contours(table, {"copy": table}, high)
    whole, massive = figure.axes[:2]
    assert f"{len(table):,} halos" in whole.get_title()
    selected = table[table["M_h"] > 12]
    assert f"{len(selected):,} halos" in massive.get_title()
    assert massive.get_xlim()[0] > whole.get_xlim()[0] + 0.3  # massive halos, massive galaxies
    with pytest.raises(ReportError, match="selects no row"):
        mf.scenario_contours(table, {"copy": table}, [scenario("M_h>16")])


def test_figure_inputs_are_checked():
    good = pd.DataFrame({"smass": [10.0, 10.5, 11.0], "color": [0.5, 0.7, 0.9]})
    bad = good.assign(color=[0.5, np.nan, 0.9])
    with pytest.raises(ReportError, match="'color' has 1 NaN"):
        mf.corner_figure(good, {"m": bad}, ["smass", "color"])
    with pytest.raises(ReportError, match=r"lacks columns \['radius'\]"):
        mf.marginal_histograms(good, {"m": good}, ["smass", "radius"])
    with pytest.raises(ReportError, match="labelled 'truth'"):
        mf.corner_figure(good, {"truth": good}, ["smass", "color"])
    with pytest.raises(ReportError, match="no model has a training history"):
        mf.loss_curves({"m": []})
    with pytest.raises(ReportError, match="no scenario 'low_mass'"):
        mf.calibration_figure({"m": {"scenarios": {"whole": {}}}}, "low_mass")


# ----------------------------------------------------------------------------- bad input
def _never(message: str) -> None:
    raise AssertionError(f"work started before the input was checked: {message}")


def test_a_model_whose_columns_the_catalog_lacks_is_refused(universe, tmp_path):
    test = universe[1]
    no_colour = Catalog(test.table.drop(columns=["color"]), test.meta)
    with pytest.raises(ReportError, match=r"model 'truth'.*\['color'\].*lacks"):
        build_report({"truth": "truth"}, no_colour, tmp_path / "r.html", progress=_never)
    assert not (tmp_path / "r.html").exists()


def test_models_without_a_shared_target_are_refused(universe, tmp_path):
    truth = TruthModel.from_dict(universe[1].meta.truth)
    models = {"mass": TruthConditional(truth, ("smass",)),
              "colour": TruthConditional(truth, ("color",))}
    with pytest.raises(ReportError, match="share no target"):
        build_report(models, universe[1], tmp_path / "r.html", progress=_never)


def test_a_scenario_without_rows_is_refused_before_any_work(universe, tmp_path):
    with pytest.raises(ScenarioError, match=r"M_h>16 selects 0 of 500 rows"):
        build_report({"truth": "truth"}, universe[1], tmp_path / "r.html",
                     scenarios=["whole", "M_h>16"], progress=_never)
    with pytest.raises(ScenarioError, match="unknown scenario 'heavy'"):
        build_report({"truth": "truth"}, universe[1], tmp_path / "r.html",
                     scenarios="heavy", progress=_never)


@pytest.mark.parametrize(("models", "options", "message"), [
    ({}, {}, "at least one model"),
    ({"m": "/nonexistent/model"}, {}, "model 'm'.*not a model directory"),
    ({"m": object()}, {}, "model 'm'.*not a conditional model"),
    ({"floor": "truth"}, {}, "clash"),
    ({"truth": "truth"}, {"n_samples": 3}, "n_samples must be an integer >= 5"),
    ({"truth": "truth"}, {"clustering": "xi.json"}, "ClusteringComparison"),
    ({"truth": "truth"}, {"pair": ("smass", "M_h")}, r"\['M_h'\] are not targets"),
    ({"truth": "truth", "truth model": "truth"}, {}, "repeated figure labels"),
])
def test_bad_arguments_fail_clearly(universe, tmp_path, models, options, message):
    with pytest.raises(ReportError, match=message):
        build_report(models, universe[1], tmp_path / "r.html", progress=_never, **options)


def test_a_deferred_clustering_runs_only_after_the_checks(universe, tmp_path):
    calls = []

    def measure():
        calls.append(1)
        return "not a comparison"

    with pytest.raises(ScenarioError, match="M_h>16"):
        build_report({"truth": "truth"}, universe[1], tmp_path / "r.html",
                     scenarios="M_h>16", clustering=measure)
    assert calls == []
    with pytest.raises(ReportError, match="returned a str"):
        build_report({"truth": "truth"}, universe[1], tmp_path / "r.html", clustering=measure)
    assert calls == [1] and not (tmp_path / "r.html").exists()


def test_truth_needs_a_synthetic_catalog_and_the_output_is_checked_first(universe, tmp_path):
    test = universe[1]
    real = Catalog(test.table, type(test.meta)(box_size=test.meta.box_size))
    with pytest.raises(ReportError, match="carries none"):
        build_report({"truth": "truth"}, real, tmp_path / "r.html", progress=_never)
    with pytest.raises(OutputPathError):
        build_report({"truth": "truth"}, test, tmp_path / "missing" / "r.html",
                     progress=_never)
    with pytest.raises(ReportError, match="no rows"):
        build_report({"truth": "truth"}, test.select(np.zeros(len(test), bool)),
                     tmp_path / "r.html", progress=_never)


# ----------------------------------------------------------------------------- browser
def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no headless Chromium on this machine")
def test_headless_chromium_renders_a_non_blank_page(built, tmp_path):
    import matplotlib.image as mpimg

    path, _, _ = built
    shot = tmp_path / "page.png"
    subprocess.run([_browser(), "--headless", "--disable-gpu", "--no-sandbox",
                    f"--screenshot={shot}", "--window-size=1280,4000",
                    path.resolve().as_uri()], check=True, timeout=120,
                   capture_output=True)
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[0] >= 1000
    # a blank page is one colour; text, tables and figures give many distinct pixels
    assert pixels.std() > 0.05
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50

