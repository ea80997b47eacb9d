"""Survey classifiers: the features they share, their base class and a small registry.

A survey classifier reads an observed source catalog (``flux_<f>`` and
``flux_err_<f>`` µJy, :func:`galhalo.photometry.observation.observe`) and gives, per
source, the probabilities of the four classes ``star, galaxy, qso_low, qso_high``
(:data:`~galhalo.photometry.sources.CLASSES`) and a redshift estimate meant for the
quasars. Two families: a 1-D CNN on the pseudo-spectrum (:mod:`.cnn`) and LightGBM
(:mod:`.boosting`).

These are not :class:`galhalo.models.ConditionalModel` s (p(galaxy | halo)): they take
photometry, not halo columns, and predict a class, so they have their own registry
(:data:`FAMILIES`, :func:`load_classifier`) here. They reuse the package's model store
(:mod:`galhalo.models.store`: ``config.json`` with checksums, ``weights.pt`` tensors only,
LightGBM text models; atomic writes) and the CNN the one training loop
(:mod:`galhalo.models.training`).

Features (:func:`features`). Each source is normalised by its own flux scale
s = sqrt(mean_f f² + mean_f σ²) over the filters used (µJy; > 0 even for a source at
the noise level, defined for negative fluxes): the pseudo-spectrum is f / s over the
narrow bands in wavelength order, the errors σ / s a second channel (``use_errors``;
Rodrigues, Abramo et al. 2023, arXiv:2303.00489: CNNs beat trees when errors are
inputs), and the other filters (broad bands) plus log10 s (the brightness) are dense
inputs.

Class imbalance. Training weighs class c by w_c ∝ (n / n_c)^``balance`` (1: fully
balanced, 0: none; mean weight 1 over the training rows). The weights shift the learned
class prior by w_c, so :meth:`SurveyClassifier.predict_proba` divides it out again:
its probabilities are calibrated to the class fractions of the training sample.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import ModelError, PhotometryError
from ..models.store import CONFIG_FILE, read_config, read_model_directory, write_model_directory
from .sources import CLASSES, error_columns, flux_columns

__all__ = ["FAMILIES", "FeatureSpec", "SurveyClassifier", "class_index", "class_weights",
           "feature_spec", "features", "load_classifier", "stratified_split", "toy_survey"]

#: Survey classifier families: name -> "module:Class".
FAMILIES = {"survey_cnn": "galhalo.photometry.cnn:CNNClassifier",
            "survey_lightgbm": "galhalo.photometry.boosting:BoostedClassifier"}
#: Quasar classes, whose rows train the redshift estimate.
QUASARS = ("qso_low", "qso_high")
_NARROW = re.compile(r"^J(\d{4})$")


@dataclass(frozen=True)
class FeatureSpec:
    """Which filters feed a classifier: ``sequence`` (the pseudo-spectrum, in wavelength
    order), ``extra`` (dense inputs) and whether the errors are inputs."""

    sequence: tuple[str, ...]
    extra: tuple[str, ...] = ()
    use_errors: bool = True

    @property
    def filters(self) -> tuple[str, ...]:
        return self.sequence + self.extra

    @property
    def channels(self) -> int:
        return 2 if self.use_errors else 1

    @property
    def n_dense(self) -> int:
        return len(self.extra) * self.channels + 1

    @property
    def width(self) -> int:
        """Columns of the flat feature matrix."""
        return len(self.sequence) * self.channels + self.n_dense

    def to_dict(self) -> dict:
        return {**asdict(self), "sequence": list(self.sequence), "extra": list(self.extra)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> FeatureSpec:
        try:
            return cls(tuple(str(n) for n in data["sequence"]),
                       tuple(str(n) for n in data["extra"]), bool(data["use_errors"]))
        except (KeyError, TypeError) as err:
            raise ModelError(f"{where}: malformed feature spec ({err})") from None


def feature_spec(filter_names: Sequence[str], sequence: Sequence[str] | None = None,
                 use_errors: bool = True) -> FeatureSpec:
    """The feature spec of ``filter_names``: by default the narrow bands ``J####`` sorted
    by their wavelength form the pseudo-spectrum (J1007 included) and every other filter
    is a dense input; with no ``J####`` name, all filters in the given order."""
    names = list(dict.fromkeys(filter_names))
    if sequence is None:
        narrow = sorted((n for n in names if _NARROW.match(n)), key=lambda n: int(n[1:]))
        sequence = narrow or names
    unknown = [n for n in sequence if n not in names]
    if unknown or len(sequence) < 2:
        raise PhotometryError(f"the pseudo-spectrum needs >= 2 of the filters; unknown: "
                              f"{', '.join(unknown) or '-'}")
    extra = tuple(n for n in names if n not in set(sequence))
    return FeatureSpec(tuple(sequence), extra, bool(use_errors))


def features(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """(n, spec.width) float32 features: [sequence f/s (, σ/s)], [extra f/s (, σ/s)],
    log10 s (module docstring), the layout the CNN splits and LightGBM reads flat.

    Raises:
        PhotometryError: a missing flux or error column, or non-finite values (named).
    """
    names = list(spec.filters)
    columns = flux_columns(names) + error_columns(names)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PhotometryError(f"sources: no column {missing[0]} (the classifier needs "
                              "flux_<f> and flux_err_<f> of its filters; run observe)")
    flux = frame[flux_columns(names)].to_numpy(dtype=float)
    error = frame[error_columns(names)].to_numpy(dtype=float)
    bad = ~(np.isfinite(flux).all(axis=1) & np.isfinite(error).all(axis=1))
    if bad.any() or (error < 0).any():
        raise PhotometryError(f"sources: {int(bad.sum())} row(s) with non-finite fluxes or "
                              "errors, or negative errors")
    scale = np.sqrt(np.mean(flux**2, axis=1) + np.mean(error**2, axis=1))
    scale = np.maximum(scale, 1e-12)[:, None]
    m = len(spec.sequence)
    parts = [flux[:, :m] / scale]
    if spec.use_errors:
        parts.append(error[:, :m] / scale)
    parts.append(flux[:, m:] / scale)
    if spec.use_errors:
        parts.append(error[:, m:] / scale)
    parts.append(np.log10(scale))
    return np.concatenate(parts, axis=1).astype(np.float32)


def class_index(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """(n,) int index into CLASSES of each label; PhotometryError for an unknown one."""
    labels = np.asarray(labels).astype(str)
    lookup = {name: i for i, name in enumerate(CLASSES)}
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        raise PhotometryError(f"source_class: unknown class(es) {', '.join(unknown)}; "
                              f"expected {', '.join(CLASSES)}")
    return np.array([lookup[x] for x in labels], dtype=np.int64)


def class_weights(index: np.ndarray, balance: float) -> np.ndarray:
    """(4,) per-class training weights w_c ∝ (n / n_c)^balance, normalised so the mean
    weight over the rows is 1 (a class without rows gets weight 1, unused)."""
    counts = np.bincount(index, minlength=len(CLASSES)).astype(float)
    weights = np.where(counts > 0, (len(index) / np.maximum(counts, 1)) ** balance, 1.0)
    return weights / (np.sum(weights * counts) / len(index))


def stratified_split(index: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): ``fraction`` of each class (at least one row of
    every class with two or more) held out, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    valid = []
    for c in np.unique(index):
        rows = rng.permutation(np.flatnonzero(index == c))
        if len(rows) >= 2:
            valid.append(rows[:max(1, round(fraction * len(rows)))])
    valid = np.sort(np.concatenate(valid)) if valid else np.array([], dtype=int)
    train = np.setdiff1d(np.arange(len(index)), valid)
    return train, valid


class SurveyClassifier:
    """Base of the survey classifier families: fit on an observed catalog, then
    :meth:`predict_proba` (n, 4), :meth:`predict` (class names), :meth:`predict_redshift`;
    :meth:`save` and :meth:`load` a model directory.

    Subclasses implement ``_fit(x, index, log1pz, weights_of_rows, seed)``,
    ``_raw_proba(x)`` (probabilities under the weighted prior), ``_raw_redshift(x)``
    (log(1 + z)), ``_files()`` / ``_restore(stored)``.
    """

    family: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, spec: FeatureSpec, seed: int = 0, **hyper: Any):
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            raise ModelError(f"{self.family}: unknown hyperparameter(s) {', '.join(unknown)}")
        self.spec = spec
        self.seed = int(seed)
        self.hyper = {**self.defaults, **hyper}
        self.weights = np.ones(len(CLASSES))
        self.fractions = np.full(len(CLASSES), 1 / len(CLASSES))
        self.history: Any = None
        self.fitted = False

    # -- the public interface
    def fit(self, frame: pd.DataFrame) -> SurveyClassifier:
        """Fit to an observed catalog with ``source_class`` and ``redshift``; returns self.

        Raises:
            PhotometryError: missing columns, an unknown class, fewer than two rows of a
                class, or fewer than two quasars.
        """
        for column in ("source_class", "redshift"):
            if column not in frame.columns:
                raise PhotometryError(f"sources: no column {column} (needed to train)")
        index = class_index(frame["source_class"].to_numpy())
        counts = np.bincount(index, minlength=len(CLASSES))
        if (counts < 2).any():
            short = [c for c, n in zip(CLASSES, counts, strict=True) if n < 2]
            raise PhotometryError(f"training sources: fewer than 2 rows of class(es) "
                                  f"{', '.join(short)}")
        redshift = frame["redshift"].to_numpy(dtype=float)
        if not (np.isfinite(redshift).all() and (redshift > -1).all()):
            raise PhotometryError("sources: redshift must be finite and > -1 on every row")
        x = features(frame, self.spec)
        self.weights = class_weights(index, float(self.hyper["balance"]))
        self.fractions = counts / counts.sum()
        self.history = self._fit(x, index, np.log1p(redshift), self.seed)
        self.fitted = True
        return self

    def predict_proba(self, frame: pd.DataFrame,
                      priors: Sequence[float] | None = None) -> np.ndarray:
        """(n, 4) class probabilities in the order of CLASSES, the training weights
        divided out: calibrated to the training sample's class fractions, or, with
        ``priors`` (4 class fractions of the target sample, e.g. from the luminosity
        functions), shifted to those (p_c ∝ p_c π_c / π_train,c).

        Raises:
            PhotometryError: ``priors`` not 4 positive finite numbers.
        """
        self._check_fitted()
        raw = self._raw_proba(features(frame, self.spec)) / self.weights[None, :]
        if priors is not None:
            priors = np.asarray(priors, dtype=float)
            if priors.shape != (len(CLASSES),) or not (np.isfinite(priors).all()
                                                        and (priors > 0).all()):
                raise PhotometryError(f"priors must be {len(CLASSES)} positive class "
                                      f"fractions ({', '.join(CLASSES)}), got {priors}")
            raw = raw * (priors / priors.sum() / self.fractions)[None, :]
        return raw / raw.sum(axis=1, keepdims=True)

    def predict(self, frame: pd.DataFrame, priors: Sequence[float] | None = None
                ) -> np.ndarray:
        """(n,) the most probable class name of each source (``priors`` as in
        :meth:`predict_proba`)."""
        return np.asarray(CLASSES)[self.predict_proba(frame, priors).argmax(axis=1)]

    def predict_redshift(self, frame: pd.DataFrame) -> np.ndarray:
        """(n,) redshift estimate (trained on quasars only; meant for quasars)."""
        self._check_fitted()
        return np.expm1(self._raw_redshift(features(frame, self.spec)))

    def config(self) -> dict[str, Any]:
        return {"family": self.family, "classes": list(CLASSES), "features":
                self.spec.to_dict(), "hyper": self.hyper, "seed": self.seed,
                "class_weights": self.weights.tolist(),
                "class_fractions": self.fractions.tolist()}

    def save(self, directory: str | Path) -> Path:
        """Write the model directory (atomic; config.json with checksums)."""
        self._check_fitted()
        return write_model_directory(directory, self.config(), self._files(), self.history)

    @classmethod
    def load(cls, directory: str | Path) -> SurveyClassifier:
        """Read a directory written by :meth:`save` (checksums verified).

        Raises:
            ModelError: missing, modified or foreign files, or a config that does not
                fit this family (the file named).
        """
        stored = read_model_directory(directory, cls.family)
        where = str(Path(directory) / CONFIG_FILE)
        config = stored.config
        if list(config.get("classes", [])) != list(CLASSES):
            raise ModelError(f"{where}: classes {config.get('classes')} are not "
                             f"{list(CLASSES)}")
        hyper = config.get("hyper")
        weights = np.asarray(config.get("class_weights", []), dtype=float)
        fractions = np.asarray(config.get("class_fractions", []), dtype=float)
        if not isinstance(hyper, dict) or any(
                array.shape != (len(CLASSES),) or not (np.isfinite(array).all()
                                                      and (array > 0).all())
                for array in (weights, fractions)):
            raise ModelError(f"{where}: malformed hyper, class_weights or class_fractions")
        model = cls(FeatureSpec.from_dict(config.get("features") or {}, where),
                    int(config.get("seed", 0)),
                    **{k: v for k, v in hyper.items() if k in cls.defaults})
        model.weights = weights
        model.fractions = fractions
        model.history = stored.history
        model._restore(stored)
        model.fitted = True
        return model

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ModelError(f"{self.family}: the classifier is not fitted")

    # -- what a family implements
    def _fit(self, x: np.ndarray, index: np.ndarray, log1pz: np.ndarray, seed: int) -> Any:
        raise NotImplementedError

    def _raw_proba(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_redshift(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _files(self):
        raise NotImplementedError

    def _restore(self, stored) -> None:
        raise NotImplementedError


def load_classifier(directory: str | Path) -> SurveyClassifier:
    """Load any survey classifier directory (its family read from ``config.json``)."""
    config = read_config(directory)
    family = config["family"]
    if family not in FAMILIES:
        raise ModelError(f"{Path(directory) / CONFIG_FILE}: {family!r} is not a survey "
                         f"classifier family ({', '.join(FAMILIES)})")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name).load(directory)


def quasar_rows(index: np.ndarray) -> np.ndarray:
    """(n,) bool: the rows of quasar classes."""
    return np.isin(index, [CLASSES.index(q) for q in QUASARS])



def toy_survey(n: int, seed: int, wavelengths: Mapping[str, float],
               r_range: tuple[float, float] = (18.0, 22.0), r_band: str = "rSDSS",
               fractions: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> pd.DataFrame:
    """A separable toy source catalog for testing classifiers without the source models:
    band fluxes are simple parametric shapes sampled at each filter's wavelength (no
    filter integration). Stars: black bodies of 3500-10000 K; galaxies: red power laws
    f_ν ∝ λ^(1…3) with a factor-2 break at (1+z) 4000 Å, z < 1; quasars: f_ν ∝ λ^0.5
    with Gaussian (σ 150 Å) Lyα, C IV, Mg II, Hβ lines at (1+z) λ and a factor 0.3
    blueward of Lyα, z 0.3-2.1 (qso_low) or 2.1-4 (qso_high). r magnitudes uniform in
    ``r_range``; classes drawn with ``fractions``.

    Args:
        n: rows; seed: seeds everything.
        wavelengths: {filter name: wavelength Å}, must include ``r_band``.

    Returns:
        The source-catalog frame: ``source_class``, ``redshift``, ``mag_r``, ``flux_<f>``
        (µJy, true) in the order of ``wavelengths``.
    """
    if r_band not in wavelengths:
        raise PhotometryError(f"toy_survey: the r band {r_band} has no wavelength")
    rng = np.random.default_rng(seed)
    lam = np.asarray(list(wavelengths.values()), dtype=float)
    index = rng.choice(len(CLASSES), n, p=np.asarray(fractions) / np.sum(fractions))
    redshift = np.choose(index, [np.zeros(n), rng.uniform(0, 1, n), rng.uniform(0.3, 2.1, n),
                                 rng.uniform(2.1, 4, n)])
    observed = (1 + redshift)[:, None]
    temperature = rng.uniform(3500, 10000, n)[:, None]
    star = 1 / (lam**3 * np.expm1(1.4388e8 / (lam * temperature)))
    galaxy = (lam / 6000) ** rng.uniform(1, 3, n)[:, None] * np.where(
        lam < 4000 * observed, 0.5, 1.0)
    quasar = (lam / 6000) ** 0.5 + sum(
        ew * np.exp(-0.5 * ((lam - line * observed) / 150) ** 2)
        for line, ew in ((1216, 3.0), (1549, 1.0), (2800, 0.6), (4861, 0.5)))
    quasar = quasar * np.where(lam < 1216 * observed, 0.3, 1.0)
    shape = np.choose(index[:, None], [star, galaxy, quasar, quasar])
    mag_r = rng.uniform(*r_range, n)
    r_column = list(wavelengths).index(r_band)
    flux = shape / shape[:, r_column:r_column + 1] * 10 ** ((23.9 - mag_r) / 2.5)[:, None]
    frame = pd.DataFrame({"source_class": np.asarray(CLASSES)[index], "redshift": redshift,
                          "mag_r": mag_r})
    columns = pd.DataFrame(flux, columns=flux_columns(list(wavelengths)), index=frame.index)
    return pd.concat([frame, columns], axis=1)
