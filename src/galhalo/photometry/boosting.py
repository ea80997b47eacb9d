"""A LightGBM survey classifier: the gradient-boosted-trees baseline.

The same features as the CNN (:func:`galhalo.photometry.classifiers.features`, read
flat), a multi-class LightGBM classifier with the class weights w_c as sample weights,
and a LightGBM regressor of log(1 + z) fitted on the quasar rows only. Both stop early
on a stratified validation split (``valid_fraction``) and are deterministic for a seed.
Saved as ``config.json`` plus LightGBM's own text models ``classifier.txt`` and
``redshift.txt`` (never pickle), through :mod:`galhalo.models.store`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import ModelError, one_line
from ..models.store import TEXT_SUFFIX, ModelFiles
from .classifiers import SurveyClassifier, quasar_rows, stratified_split
from .sources import CLASSES

__all__ = ["BoostedClassifier"]

_PARTS = ("classifier", "redshift")


class BoostedClassifier(SurveyClassifier):
    """LightGBM survey classifier. Hyperparameters: ``estimators`` (maximum rounds),
    ``learning_rate``, ``leaves``, ``min_leaf``, ``balance``, ``early_stopping``
    (rounds), ``valid_fraction``, ``threads``.

    The round cap (1200) and early stopping (60) are those of the learning curve in
    docs/survey_classification.md: with 20,000 training sources per class the former
    cap of 400 rounds was reached before early stopping, and 1200 rounds (stopping at
    ~800) raised the faint high-z quasars' F1; smaller samples stop well below it."""

    family: ClassVar[str] = "survey_lightgbm"
    defaults: ClassVar[dict[str, Any]] = {
        "estimators": 1200, "learning_rate": 0.05, "leaves": 31, "min_leaf": 10,
        "balance": 0.5, "early_stopping": 60, "valid_fraction": 0.2, "threads": 1}

    def __init__(self, spec, seed: int = 0, **hyper: Any):
        super().__init__(spec, seed, **hyper)
        self.texts: dict[str, str] = {}
        self.boosters: dict[str, Any] = {}

    def _params(self, seed: int) -> dict[str, Any]:
        return {"n_estimators": int(self.hyper["estimators"]),
                "learning_rate": float(self.hyper["learning_rate"]),
                "num_leaves": int(self.hyper["leaves"]),
                "min_child_samples": int(self.hyper["min_leaf"]), "random_state": seed,
                "n_jobs": int(self.hyper["threads"]), "deterministic": True,
                "force_row_wise": True, "verbose": -1}

    def _fit(self, x: np.ndarray, index: np.ndarray, log1pz: np.ndarray, seed: int) -> Any:
        import lightgbm

        train, valid = stratified_split(index, float(self.hyper["valid_fraction"]), seed)
        stop = [lightgbm.early_stopping(int(self.hyper["early_stopping"]), verbose=False)]
        weight = self.weights[index]
        classifier = lightgbm.LGBMClassifier(objective="multiclass", **self._params(seed))
        classifier.fit(x[train], index[train], sample_weight=weight[train],
                       eval_X=(x[valid],), eval_y=(index[valid],),
                       eval_sample_weight=[weight[valid]], callbacks=stop)
        quasar = quasar_rows(index)
        regressor = lightgbm.LGBMRegressor(objective="huber", alpha=0.05,
                                           **self._params(seed))
        regressor.fit(x[train][quasar[train]], log1pz[train][quasar[train]],
                      eval_X=(x[valid][quasar[valid]],),
                      eval_y=(log1pz[valid][quasar[valid]],), callbacks=stop)
        self._set_texts({"classifier": classifier.booster_.model_to_string(),
                         "redshift": regressor.booster_.model_to_string()})
        return {"classifier_rounds": int(classifier.booster_.current_iteration()),
                "redshift_rounds": int(regressor.booster_.current_iteration())}

    def _set_texts(self, texts: dict[str, str], where: str = "") -> None:
        import lightgbm

        boosters = {}
        for part in _PARTS:
            try:
                boosters[part] = lightgbm.Booster(model_str=texts[part])
            except KeyError:
                raise ModelError(f"{where}{part}{TEXT_SUFFIX}: missing") from None
            except Exception as err:  # lightgbm raises its own error type for a bad model
                raise ModelError(f"{where}{part}{TEXT_SUFFIX}: not a LightGBM model "
                                 f"({one_line(err)})") from None
        if boosters["classifier"].num_model_per_iteration() != len(CLASSES):
            raise ModelError(f"{where}classifier{TEXT_SUFFIX}: not a {len(CLASSES)}-class "
                             "model")
        self.texts = dict(texts)
        self.boosters = boosters

    def _raw_proba(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, len(CLASSES)))
        threads = int(self.hyper["threads"])
        return np.asarray(self.boosters["classifier"].predict(x, num_threads=threads),
                          dtype=float).reshape(len(x), len(CLASSES))

    def _raw_redshift(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0)
        threads = int(self.hyper["threads"])
        return np.asarray(self.boosters["redshift"].predict(x, num_threads=threads),
                          dtype=float)

    def _files(self) -> ModelFiles:
        return ModelFiles(texts=dict(self.texts))

    def _restore(self, stored) -> None:
        self._set_texts(stored.files.texts, f"{stored.directory}/")
