"""The metrics of :func:`~.run.evaluate_model`: what each measures and how to read it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_METRICS", "JOINT", "METRICS", "MetricInfo", "pair_key"]


@dataclass(frozen=True)
class MetricInfo:
    """What a metric measures and how to read it.

    Attributes:
        name: key in results.
        kind: ``"target"`` (one entry per target column), ``"pair"`` (per pair of target
            columns, key ``"smass:color"``) or ``"joint"`` (one entry, key ``"joint"``).
        better: ``"lower"``, ``"higher"`` or ``"closest"`` (to the floor: PCC, whose
            floor is the truth's own correlation; AUC, 0.5; coverage, the nominal level).
        description: one line, with units.
        needs_truth: only computed when the catalog has a truth model.
    """

    name: str
    kind: str
    better: str
    description: str
    needs_truth: bool = False


METRICS: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("ks", "target", "lower", "1-D Kolmogorov-Smirnov statistic, sampled vs true"),
    MetricInfo("wasserstein", "target", "lower",
               "1-D Wasserstein-1 distance, sampled vs true (column's unit)"),
    MetricInfo("ks2d", "pair", "lower", "2-D Fasano-Franceschini KS statistic per target pair"),
    MetricInfo("energy2d", "pair", "lower",
               "2-D energy distance per target pair (columns in units of the true sd)"),
    MetricInfo("energy", "joint", "lower",
               "energy distance in all target dimensions (units of the true sd)"),
    MetricInfo("c2st", "joint", "closest",
               "classifier two-sample test: held-out AUC, sampled vs true targets (0.5 ideal)"),
    MetricInfo("c2st_conditional", "joint", "closest",
               "classifier two-sample test on (condition, target): tests the conditional"),
    MetricInfo("pcc", "target", "closest",
               "Pearson correlation of sampled vs true values per halo (floor: the truth's)"),
    MetricInfo("pit", "target", "lower",
               "conditional PIT histogram flatness, chi^2 per degree of freedom (1 ideal)"),
    MetricInfo("pit_marginal", "target", "lower",
               "marginal PIT histogram flatness over the selection, chi^2 per dof"),
    MetricInfo("coverage68", "target", "closest",
               "fraction of true values in the central 68% region of the model"),
    MetricInfo("coverage95", "target", "closest",
               "fraction of true values in the central 95% region of the model"),
    MetricInfo("nll", "joint", "lower",
               "mean negative log-likelihood, nats per galaxy (floor: the truth's)"),
    MetricInfo("nll_vs_truth", "joint", "lower",
               "NLL minus the truth's NLL = KL(truth||model), nats per galaxy", True),
)}
#: Metrics computed by default (c2st_conditional costs a second classifier per scenario).
DEFAULT_METRICS: tuple[str, ...] = tuple(m for m in METRICS if m != "c2st_conditional")
JOINT = "joint"


def pair_key(first: str, second: str) -> str:
    """Result key of a target pair, e.g. ``"smass:color"``."""
    return f"{first}:{second}"
