"""The evaluation report (galhalo.report.build) and its figures (report.model_figures).

One small report is built once per module (a seeded 1,000-row universe: a gauss model
trained two epochs on one half, scored with the truth model on the other half, plus a
clustering comparison) and parsed with html.parser: the verdict comes first, every figure
is an embedded PNG, every section is there, the long tables are folded and have the
models as columns. The figure test checks that the drawn contours enclose their stated
probability; bad input fails before work. The page is then opened in headless Chromium
(required when CI=true): it renders, every image decodes, nothing errs or is fetched,
and the verdict's colours are on the first screen.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import shutil
import signal
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
from galhalo.report.verdict import COLOURS, GROUPS
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCENARIOS = ["whole", "M_h>11.5"]


class _Page(HTMLParser):
    """Images, h2 headings and tables (caption, header cells, body rows, class, whether
    inside <details>) of a page, and the order of headings, tables and images."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self.tables: list[dict] = []
        self.order: list[str] = []  # "h2:<title>", "table:<index>", "img"
        self._details = 0
        self._where: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details":
            self._details += 1
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
            self.order.append("img")
        elif tag == "h2":
            self._where, self._cell = "h2", []
        elif tag == "table":
            self.order.append(f"table:{len(self.tables)}")
            self.tables.append({"caption": "", "header": [], "rows": [],
                                "class": attrs.get("class") or "",
                                "folded": self._details > 0})
        elif tag == "caption":
            self._where, self._cell = "caption", []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        text = "".join(self._cell or [])
        if tag == "details":
            self._details -= 1
        elif tag == "h2":
            self.headings.append(text)
            self.order.append(f"h2:{text}")
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
    # scores by region, corner, scenario contours, 1-D histograms, calibration,
    # importance, loss curves, and the clustering xi(r) and b(r)
    assert len(page.images) == 9
    for source in page.images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        width, height = _png_size(base64.b64decode(source[len(prefix):], validate=True))
        assert width >= 300 and height >= 200
    # self-contained: no figure files beside the page, no leftovers of the atomic write
    assert [p.name for p in path.parent.iterdir() if p.is_file()] == ["report.html"]
    assert "src=\"http" not in path.read_text() and "<script" not in path.read_text()


class _Nesting(HTMLParser):
    """Elements left open or closed out of order, and every id."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.misnested: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids += [value for name, value in attrs if name == "id"]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.misnested.append(f"</{tag}> inside {self.open[-3:]}")


def test_the_page_is_well_formed(built):
    """Every element the report writes is closed in order (folded tables, the verdict's
    spanned rows) and every id (the table of contents' anchors) is unique."""
    path, page, _ = built
    nesting = _Nesting()
    nesting.feed(path.read_text(encoding="utf-8"))
    assert nesting.open == [] and nesting.misnested == []
    assert len(nesting.ids) == len(set(nesting.ids)) == len(page.headings)


def test_the_verdict_comes_first_then_figures_then_folded_tables(built):
    """Pins the reading order of issue 17: the page used to open with metadata and nine
    unfolded tables of numbers, the figures thousands of pixels down."""
    _, page, messages = built
    expected = ["Verdict", "Scores by region", "Corner plot", "Scenarios: color vs smass",
                "1-D distributions", "Calibration", "Feature importance", "Loss curves",
                "Clustering", "Comparison", "Model gauss", "Model truth",
                "Catalog, models and settings"]
    assert page.headings == expected
    assert any(m.startswith("gauss: scenario") for m in messages)
    # the verdict table is the page's first table, before any image, and not folded
    assert page.order[:2] == ["h2:Verdict", "table:0"]
    assert page.tables[0]["class"] == "verdict" and not page.tables[0]["folded"]
    assert page.order.index("table:0") < page.order.index("img")
    # every table after the figures is folded, except the clustering bias tables
    after = page.tables[1:]
    unfolded = [t["caption"] for t in after if not t["folded"]]
    assert all(c.startswith(("large-scale bias", "assembly-bias")) for c in unfolded)
    assert sum(t["folded"] for t in after) >= len(SCENARIOS) + 2 * 2 + 4


def test_verdict_rows_are_scenarios_by_models_and_flag_the_untrained_model(built):
    """One row per scenario and model; the two-epoch gauss model is detectably off in
    likelihood (its NLL is far above the truth's), the truth model is at its floor."""
    _, page, _ = built
    verdict = page.tables[0]
    groups = verdict["header"][2:]
    assert len(groups) == len(GROUPS)
    assert all(g.startswith(name) for g, name in zip(groups, GROUPS, strict=True))
    likelihood = next(i for i, g in enumerate(groups) if g.startswith("likelihood"))
    cells = {}
    for row in verdict["rows"]:
        model, values = (row[1], row[2:]) if len(row) == len(groups) + 2 else (row[0], row[1:])
        cells.setdefault(model, []).append(values)
    assert list(cells) == ["gauss", "truth"]
    assert [len(v) for v in cells.values()] == [len(SCENARIOS)] * 2
    number = re.compile(r"^([+-][0-9.]+)")
    for gauss, truth in zip(cells["gauss"], cells["truth"], strict=True):
        assert float(number.match(gauss[likelihood]).group(1)) > 3
        assert abs(float(number.match(truth[likelihood]).group(1))) <= 3


def test_scores_by_region_show_each_model_per_mass_bin_and_population(built):
    """After the verdict: the region figure, then one folded table per model; the truth
    model's gap is exactly 0 in every region, the two-epoch gauss model's is not."""
    _, page, _ = built
    assert page.order[page.order.index("h2:Scores by region") + 1] == "img"
    by_caption = {t["caption"]: t for t in page.tables}
    truth, gauss = (by_caption[f"{label}: scores by region"] for label in ("truth", "gauss"))
    assert truth["folded"] and gauss["folded"]
    column = truth["header"].index("NLL - truth NLL (nats)")
    regions = [row[0] for row in truth["rows"]]
    assert regions[0] == "whole" and regions[-1] == "worst 1%"
    assert {"M_h 11-11.5", "M_h 12-12.5", "quenched", "star_forming"} <= set(regions)
    assert all(row[column] in ("0.000 ± 0.000", "–") for row in truth["rows"])
    assert float(gauss["rows"][0][column].split(" ± ")[0]) > 0.1


def test_comparison_tables_have_the_models_as_columns_and_star_the_best(built):
    _, page, _ = built
    tables = [t for t in page.tables if t["header"][:2] == ["metric", "key"]
              and "best" in t["header"]]
    assert [t["caption"].split(":")[0] for t in tables] == SCENARIOS
    for table in tables:
        assert table["folded"]
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


def test_same_seed_same_page_and_a_catalog_without_truth(universe, tmp_path):
    """Everything random is seeded: a second build is byte-identical (a two-target truth
    on 200 rows keeps this quick). The catalog carries no truth model, as a real one:
    floors come from split halves and the PCC has none, which the verdict shows as a
    grey "no floor" cell (a NaN deviation used to crash the page)."""
    test = universe[1].select(np.arange(len(universe[1])) < 200)
    real = Catalog(test.table, type(test.meta)(box_size=test.meta.box_size))
    model = {"pair": TruthConditional(TruthModel.from_dict(test.meta.truth), ("smass", "color"))}
    paths = [build_report(model, real, tmp_path / f"{name}.html", scenarios="whole",
                          n_samples=5, seed=3, importance=False, command="x")
             for name in ("a", "b")]
    pages = [path.read_bytes() for path in paths]
    assert pages[0] == pages[1]
    # scores by region, corner, contours, 1-D, calibration; no loss curve for the truth
    assert pages[0].count(b"data:image/png;base64,") == 5
    verdict = _parse(paths[0]).tables[0]
    row = verdict["rows"][0]
    per_halo = next(i for i, g in enumerate(verdict["header"]) if g.startswith("per-halo"))
    assert row[per_halo] == "no floor"
    assert b"Noise floors from split halves." in pages[0]


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
#: Headless Chromium, quiet and isolated: no sandbox (containers run as root), no GPU, no
#: network of its own (QUIC, background fetches, component updates, sync), shared memory
#: in /tmp (a container's /dev/shm is often 64 MB), a fresh profile per call (added by
#: _chromium).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--hide-scrollbars")
#: Seconds one Chromium call may take before it is killed and the test fails.
CHROMIUM_TIMEOUT = 120
#: Injected into a copy of the page (the report itself holds no script): records every
#: error event (script errors and resources that fail to load, captured), then on load
#: writes the images' decoded sizes, the resources fetched and the verdict rows into
#: the DOM, where --dump-dom shows them.
PROBE = """<script>
window.galhaloErrors = [];
window.addEventListener("error", function (event) {
  window.galhaloErrors.push(String(event.message || (event.target && event.target.tagName)));
}, true);
window.addEventListener("load", function () {
  var probe = document.createElement("pre");
  probe.id = "galhalo-probe";
  probe.textContent = JSON.stringify({
    errors: window.galhaloErrors,
    images: Array.prototype.map.call(document.images, function (image) {
      return [image.complete, image.naturalWidth, image.naturalHeight]; }),
    fetched: performance.getEntriesByType("resource").map(function (r) { return r.name; }),
    verdictRows: document.querySelectorAll("table.verdict tbody tr").length,
    height: document.documentElement.scrollHeight});
  document.body.appendChild(probe);
});
</script>"""


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; skipped without one, except in CI (CI=true), where the
    report must be checked in a real browser (run.sh installs Debian's chromium)."""
    found = _browser()
    if found is None:
        message = "no headless Chromium (chromium, chromium-browser or google-chrome) on PATH"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI=true requires one: ./run.sh installs Debian's "
                        "chromium on a fresh machine")
        pytest.skip(message)
    return found


def _chromium(binary: str, profile, *arguments: str) -> tuple[str, str]:
    """(stdout, stderr) of one headless Chromium call with a fresh profile directory;
    the whole process group is killed and the test fails after CHROMIUM_TIMEOUT s."""
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"Chromium did not finish within {CHROMIUM_TIMEOUT} s: {command}")
    assert process.returncode == 0, f"Chromium exited with {process.returncode}: {err[-2000:]}"
    return out, err


def _probe(binary: str, page, tmp_path, name: str) -> tuple[dict, list[str]]:
    """Open a probed copy of ``page``: the probe's record and the console lines."""
    copy = tmp_path / f"{name}.html"
    copy.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1),
                    encoding="utf-8")
    out, err = _chromium(binary, tmp_path / f"{name}-profile", "--enable-logging=stderr",
                         "--v=0", "--virtual-time-budget=10000", "--dump-dom",
                         copy.resolve().as_uri())
    found = re.search(r'<pre id="galhalo-probe">(.*?)</pre>', out, re.S)
    assert found, f"the probe did not run (no load event?): {out[-500:]} {err[-1000:]}"
    console = [line for line in err.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return json.loads(html.unescape(found.group(1))), console


@pytest.mark.slow
def test_headless_chromium_loads_every_image_without_errors(chromium, built, tmp_path):
    """The page renders in a real browser: every <img> decodes to a picture of the size
    its PNG declares, no error event or console message, nothing fetched. The same
    probe on a copy with a broken image and a failing script reports both (the check
    can fail)."""
    path, page, _ = built
    record, console = _probe(chromium, path, tmp_path, "page")
    assert record["errors"] == [] and console == []
    assert record["fetched"] == []
    assert record["verdictRows"] == len(SCENARIOS) * 2
    declared = [_png_size(base64.b64decode(src.split(",", 1)[1])) for src in page.images]
    assert [(w, h) for _, w, h in record["images"]] == declared
    assert all(complete for complete, _, _ in record["images"])

    broken = tmp_path / "broken.html"
    broken.write_text(path.read_text(encoding="utf-8").replace(
        "</body>", '<img alt="x" src="data:image/png;base64,AAAA">'
                   "<script>notAFunction()</script></body>"), encoding="utf-8")
    record, console = _probe(chromium, broken, tmp_path, "broken")
    assert "IMG" in record["errors"] and any("notAFunction" in e for e in record["errors"])
    assert record["images"][-1][1:] == [0, 0]
    assert any("notAFunction" in line for line in console)


@pytest.mark.slow
def test_headless_chromium_screenshot_shows_the_verdict_first(chromium, built, tmp_path):
    """A 1280 x 1400 screenshot (the first screen or so) is not blank and holds the
    verdict's colours: the at-the-floor class (the truth model's cells) and a worse
    class (the two-epoch gauss model's)."""
    import matplotlib.image as mpimg

    path, _, _ = built
    shot = tmp_path / "first-screen.png"
    _chromium(chromium, tmp_path / "shot-profile", f"--screenshot={shot}",
              "--window-size=1280,1400", path.resolve().as_uri())
    pixels = (mpimg.imread(shot)[..., :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (1400, 1280)
    # a blank page is one colour; text, tables and figures give many distinct pixels
    assert pixels.std() > 10
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50

    def present(colour: str) -> bool:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        return bool((np.abs(pixels - rgb).max(axis=-1) <= 2).sum() > 500)

    assert present(COLOURS[0][0])
    assert any(present(background) for background, _ in COLOURS[1:])
