"""The "Survey" section of the report: a survey classifier's evaluation directory
(``galhalo survey evaluate``: ``metrics.json`` and the PNGs of
:mod:`galhalo.report.survey_figure`) shown as tables and figures.

:func:`read_survey` checks a directory (before any other work of the report),
:func:`survey_section` adds the section to an :class:`~galhalo.report.html.HtmlReport`,
:func:`build_survey_report` writes a page holding the survey section alone
(``galhalo report --survey DIR`` without models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ReportError
from ..files import check_writable
from .html import HtmlReport
from .sections import _png_figure
from .survey_figure import DPI, FIGURES

__all__ = ["SurveyEvaluation", "build_survey_report", "read_survey", "survey_section"]

_KEYS = ("family", "model", "catalog", "n_sources", "classes", "published", "scores")


@dataclass(frozen=True)
class SurveyEvaluation:
    """A survey evaluation directory: its metrics and figure files (in FIGURES order)."""

    directory: Path
    metrics: dict[str, Any]
    figures: tuple[Path, ...]


def read_survey(directory: str | Path) -> SurveyEvaluation:
    """Read and check a ``galhalo survey evaluate`` output directory.

    Raises:
        ReportError: no such directory, no or malformed ``metrics.json`` (not a survey
            evaluation), or a figure missing (each named).
    """
    directory = Path(directory)
    path = directory / "metrics.json"
    if not directory.is_dir():
        raise ReportError(f"--survey {directory}: no such directory (write one with "
                          "galhalo survey evaluate)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: missing (not a galhalo survey evaluate directory)"
                          ) from None
    except (OSError, ValueError) as err:
        raise ReportError(f"{path}: unreadable ({err})") from None
    missing = [key for key in _KEYS if not isinstance(metrics, dict) or key not in metrics]
    if missing:
        raise ReportError(f"{path}: no '{missing[0]}' entry (not a survey evaluation; "
                          "galhalo survey evaluate writes one)")
    figures = tuple(directory / name for name in FIGURES)
    absent = [p for p in figures if not p.is_file()]
    if absent:
        raise ReportError(f"{absent[0]}: missing figure of the survey evaluation")
    return SurveyEvaluation(directory, metrics, figures)


def _cell(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _bin_label(entry: dict[str, Any]) -> str:
    return f"r {entry['low']:g}-{entry['high']:g}"


def _f1_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """F1 per class and r bin (true members in brackets), the published rows beside."""
    classes = metrics["scores"]["classes"]
    rows = []
    for name in metrics["classes"]:
        row: dict[str, Any] = {"class": name, "source": metrics["family"]}
        for entry in classes["bins"]:
            score = entry["scores"][name]
            f1 = "–" if score["f1"] is None else f"{score['f1']:.2f}"
            row[_bin_label(entry)] = f"{f1} ({int(score['support']):,})"
        rows.append(row)
        published = metrics["published"]["f1"].get(name)
        if published:
            rows.append({"class": name, "source": "Martínez-Solaeche+23 ANN1", **{
                _bin_label(entry): f"{value:.2f}"
                for entry, value in zip(classes["bins"], published, strict=True)}})
    return pd.DataFrame(rows)


def _purity_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """Purity / completeness per class and r bin."""
    rows = []
    for name in metrics["classes"]:
        row: dict[str, Any] = {"class": name}
        for entry in metrics["scores"]["classes"]["bins"]:
            score = entry["scores"][name]
            row[_bin_label(entry)] = " / ".join(
                "–" if score[k] is None else f"{score[k]:.2f}"
                for k in ("purity", "completeness"))
        rows.append(row)
    return pd.DataFrame(rows)


def _summary_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    scores = metrics["scores"]
    best = scores.get("qso_high_best") or {}
    redshift = scores.get("redshift") or {}
    return pd.DataFrame([{
        "model": metrics["family"], "sources": int(metrics["n_sources"]),
        "macro F1": _cell(scores.get("macro_f1")),
        "qso_high best F1": _cell(best.get("f1")),
        "at p(qso_high) >=": _cell(best.get("threshold")),
        "quasar σ_NMAD": _cell(redshift.get("sigma_nmad")),
        "quasar outliers": _cell(redshift.get("outlier_fraction")),
        "ECE": _cell(scores.get("ece"))}])


def survey_section(report: HtmlReport, survey: SurveyEvaluation) -> None:
    """The "Survey" section: summary, F1 per class and r bin beside the published
    figures, then the four figures of the evaluation directory."""
    metrics = survey.metrics
    observation = metrics.get("observation") or {}
    noise = f", {observation['noise']} noise" if observation.get("noise") else ""
    report.section("Survey", f"Survey classifier {metrics['family']} ({metrics['model']}) "
                   f"scored on {int(metrics['n_sources']):,} observed sources of "
                   f"{metrics['catalog']}{noise}: classes {', '.join(metrics['classes'])}; "
                   f"r bins on the true r magnitude. Published figures: "
                   f"{metrics['published']['reference']}, on J-PAS mocks that are not ours "
                   "(docs/survey_classification.md says what differs).")
    report.table(_summary_frame(metrics), caption="Summary: macro F1 over the classes, the "
                 "best F1 of a threshold on p(qso_high), quasar redshift σ_NMAD and outlier "
                 "fraction (|Δz|/(1+z) > 0.15), expected calibration error")
    report.table(_f1_frame(metrics), caption="F1 per class and true-r bin (in brackets: "
                 "true members of the class in the bin), beside the published figures")
    report.table(_purity_frame(metrics), caption="Purity / completeness per class and "
                 "true-r bin", folded=True)
    for path, caption in zip(survey.figures, FIGURES.values(), strict=True):
        report.figure(_png_figure(path, DPI), caption=caption, dpi=DPI)


def build_survey_report(directory: str | Path, out: str | Path,
                        command: str | None = None) -> Path:
    """Write a page holding the survey section of ``directory`` alone (atomic)."""
    target = check_writable(out)
    survey = read_survey(directory)
    report = HtmlReport("galhalo survey report",
                        subtitle=f"{survey.metrics['family']} on "
                                 f"{int(survey.metrics['n_sources']):,} sources")
    survey_section(report, survey)
    if command:
        report.section("Provenance", f"command: {command}")
    return report.write(target)
