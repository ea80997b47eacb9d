"""Train a cosmology GNN on a simulation suite, and find the suites to score it on.

:func:`train_on_suite` reads the suite, optionally holds out a seeded fraction of its
universes, fits the model and records in ``model.metrics`` where it was trained
(``"suite"``: the suite's absolute path) and what was held out (``"held_out"``: the
universe names). :func:`suites_to_score` turns suite paths and a request for those
held-out universes into labelled suites for :func:`~galhalo.cosmo.training.evaluate_suites`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CosmoError
from .graphs import galaxies_from_suite
from .training import CosmoGNN

__all__ = ["HELD_OUT", "suites_to_score", "train_on_suite"]

#: Label of the held-out universes of the training suite among the scored suites.
HELD_OUT = "held out"


def train_on_suite(model: CosmoGNN, suite: str | Path, parameters: Sequence[str] = ("Omega_m",),
                   test_fraction: float = 0.0, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> CosmoGNN:
    """Fit ``model`` on the universes of a suite directory and record the suite.

    Args:
        model: an unfitted :class:`CosmoGNN` (hyperparameters and systematics set).
        suite: suite directory (``galhalo suite``: parameters.txt, suite.json,
            LH_<i>.parquet).
        parameters: parameters to infer (columns of the suite's parameter table).
        test_fraction: a seeded fraction of the universes (at least one) kept out of
            training and validation; 0 holds out none.
        seed: seeds the held-out choice and the fit.
        progress: called with one line once the suite is read.

    Returns:
        ``model``, fitted; ``model.metrics["suite"]`` is the suite's absolute path and,
        with ``test_fraction``, ``model.metrics["held_out"]`` the held-out names.

    Raises:
        SuiteError: not a readable suite, or a fraction that leaves nothing to train on.
        CosmoError: the suite lacks a parameter or a galaxy column the model needs.
    """
    from ..sim.suites import read_suite

    suite = Path(suite)
    training, held_out = read_suite(suite), None
    if test_fraction:
        training, held_out = training.split(test_fraction, seed)
    boxes, values, _ = galaxies_from_suite(training, tuple(parameters),
                                           model.graph_config.properties)
    if progress is not None:
        progress(f"{len(boxes)} boxes, {sum(map(len, boxes)):,} galaxies"
                 + (f" ({len(held_out)} more held out)" if held_out else ""))
    model.fit(boxes, values, tuple(parameters), seed=seed)
    model.metrics["suite"] = str(suite.resolve())
    if held_out:
        model.metrics["held_out"] = held_out.names
    return model


def suites_to_score(model: CosmoGNN, suites: Sequence[str | Path] = (),
                    held_out: bool = False, model_name: str = "the model"
                    ) -> tuple[dict[str, Any], dict[str, str]]:
    """The suites to score a model on, labelled, and a description of each.

    Args:
        model: a fitted :class:`CosmoGNN` (its ``metrics`` say what it held out).
        suites: suite directories; each is labelled by its directory name (by its full
            path when two names clash).
        held_out: also score the universes of the training suite that
            :func:`train_on_suite` held out, labelled :data:`HELD_OUT` (first).
        model_name: how errors name the model (e.g. its directory).

    Returns:
        (label -> suite, as ``galhalo.sim.suites.read_suite`` returns; label -> the
        suite's path, for the held-out part "<training suite> (<n> held-out universes)").

    Raises:
        CosmoError: nothing to score; ``held_out`` for a model trained without held-out
            universes, or whose training suite is no longer where it was.
    """
    from ..sim.suites import read_suite

    suites = [Path(path) for path in suites]
    if not suites and not held_out:
        raise CosmoError("nothing to score: give --suite (repeatable) and/or --held-out")
    labels = [path.name for path in suites]
    if len(set(labels)) != len(labels):
        labels = [str(path) for path in suites]
    chosen = {label: read_suite(path) for label, path in zip(labels, suites, strict=True)}
    paths = dict(zip(labels, map(str, suites), strict=True))
    if held_out:
        names, trained_on = model.metrics.get("held_out"), model.metrics.get("suite")
        if not names or not trained_on:
            raise CosmoError(f"{model_name} holds no held-out universes: train it with "
                             "--test-fraction")
        if not Path(trained_on).is_dir():
            raise CosmoError(f"the training suite {trained_on} recorded in {model_name} is "
                             "not there")
        chosen = {HELD_OUT: read_suite(trained_on).subset(names), **chosen}
        paths = {HELD_OUT: f"{trained_on} ({len(names)} held-out universes)", **paths}
    return chosen, paths
