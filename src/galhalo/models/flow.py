"""Conditional normalizing flow: a neural spline flow (zuko) over the scaled targets.

Autoregressive rational-quadratic spline transforms (Durkan et al. 2019) conditioned
on the scaled condition columns, on a standard-normal base. The targets reach the flow
through the shared scaler, whose support maps make the density honest at boundaries:
the stellar-mass cut of a selected sample is a ``softplus`` support, so no probability
leaks below the cut, and ``log_prob`` includes the scaler's exact Jacobian.

The default is a deep ensemble (below) of two flows, each of two fully autoregressive
spline transforms with 12 bins and conditioners of 3 hidden layers of 219 units, the size
Rodrigues et al. (2025) used for TNG300 (galhalo's ``flow_rodrigues25`` family, whose
splines are linear-rational, has one such transform). It is kept behind this module's
own pieces, which the published model lacks: a conditional location-scale transform in
front of the splines (``affine=True``, conditioner ``affine_hidden`` = 2 x 64), which
standardises every target per halo so the narrow conditional distributions of massive,
quenched halos need not be carved out by the splines; the standard scaler with the
stellar-mass cut as a support and supports at the edges the data pile up against
(``edges``); and an exponential moving average of the weights (``average`` epochs).

The default shape is chosen on the ``tng_hard`` universe (~84k training rows; the rows of
``python benchmarks/flow_gap.py`` in docs/truth_model.md). Until 2026-12-07 it was four
coupling transforms (``passes=2``) of 2 x 128 units and 8 bins
(:data:`PREVIOUS_DEFAULT_SHAPE`); then, for a day, one transform and one member with a 3 x
219 location-scale conditioner (:data:`SINGLE_FLOW_SHAPE`). Two members of two transforms
lower the gap to the exact truth (scored on 439,642 galaxies) from 0.031 to 0.026
nats/galaxy, above 10^13 from 0.114 to 0.094 and in the green valley from 0.153 to
0.088; the small location-scale conditioner is what keeps sampling above 1e5
galaxies/s on 2 cores (a galaxy passes through one member; ``python
benchmarks/models.py``). Coupling transforms (``passes=2``) sample faster at a higher
gap. Noise regularisation and weight decay did not help.

``members=M > 1`` makes the model an equal-weight mixture of M flows (a deep ensemble):
p(y | x) = (1/M) sum_k p_k(y | x). The members start from different initial weights and
are trained side by side on the same batches, each on its own likelihood (the training
loss is the members' mean NLL, so their gradients are independent); validation, early
stopping and ``log_prob`` use the mixture. Averaging densities removes part of the
members' estimation variance, which dominates the single flow's excess over the truth.
Sampling draws a member per galaxy, so it costs what one flow costs; fitting costs M.

``experts=K > 1`` makes it a mixture of K flows whose weights are a function of the
condition, p(y | x) = sum_k w_k(x) p_k(y | x) (a mixture of experts, Jacobs et al.
1991), trained on the mixture's likelihood, so the members can specialise (one on the
star-forming, one on the quenched sequence) instead of each fitting everything.

``components=K > 1`` replaces the standard-normal base by a conditional mixture of K
Gaussians (models/mixture_base.py), so bimodal populations get their own latent modes.

Sampling inverts the transforms with the level-by-level sampler of
``models/flow_sampling.py`` (exact, the same draws as zuko's, several times faster).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import zuko
from zuko.flows.autoregressive import MaskedAutoregressiveTransform

from .base import ModelError, NeuralModel, register
from .flow_sampling import sample_flow
from .mixture_base import ConditionalGaussianMixture
from .networks import TRAINING_DEFAULTS, mlp

#: The flow's network shape before 2026-12-07: four coupling transforms of 2 x 128 units
#: with 8 bins. Every figure measured before then used it, and
#: ``FlowModel(**PREVIOUS_DEFAULT_SHAPE)`` reproduces it (on the command line:
#: ``--transforms 4 --hidden 128,128 --bins 8 --set passes=2 --set members=1 --set
#: affine_hidden=null``).
PREVIOUS_DEFAULT_SHAPE: dict[str, Any] = {"transforms": 4, "passes": 2,
                                          "hidden": (128, 128), "bins": 8, "members": 1,
                                          "affine_hidden": None}
#: The flow's shape during 2026-12-07: one spline transform, one member, the
#: location-scale conditioner as wide as the splines' (3 x 219). The figures measured
#: that day used it; ``FlowModel(**SINGLE_FLOW_SHAPE)`` reproduces it (on the command
#: line: ``--transforms 1 --set members=1 --set affine_hidden=219,219,219``).
SINGLE_FLOW_SHAPE: dict[str, Any] = {"transforms": 1, "members": 1, "affine_hidden": None}


class FlowEnsemble(torch.nn.Module):
    """A mixture of conditional flows: equal weights (``members`` in ``FlowModel``, a
    deep ensemble) or, with a ``gate`` network, weights that are a function of the
    condition (``experts``, a mixture of experts)."""

    def __init__(self, members: list[torch.nn.Module], gate: torch.nn.Module | None = None):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.gate = gate

    def member_log_probs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p_k(y | x) of every member, shape (members, batch)."""
        return torch.stack([member(x).log_prob(y) for member in self.members])

    def log_weights(self, x: torch.Tensor) -> torch.Tensor:
        """log w_k(x) of every member, shape (members, batch) (or (members, 1): equal)."""
        if self.gate is None:
            return torch.full((len(self.members), 1), -math.log(len(self.members)))
        return torch.log_softmax(self.gate(x), dim=-1).T

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log of the mixture density, (batch,)."""
        return torch.logsumexp(self.member_log_probs(x, y) + self.log_weights(x), dim=0)

    def sample(self, x: torch.Tensor, n: int, reference: bool = False) -> torch.Tensor:
        """(n, batch, d) draws: each from a member drawn by its weight (global
        generator); ``reference``: zuko's own sampler instead of the fast one."""
        contexts = x.repeat(n, 1)
        if self.gate is None:
            choice = torch.randint(len(self.members), (len(contexts),))
        else:
            choice = torch.multinomial(self.log_weights(contexts).T.exp(), 1).squeeze(1)
        draws = None
        for k, member in enumerate(self.members):
            rows = torch.nonzero(choice == k).squeeze(1)
            if len(rows) == 0:
                continue
            values = sample_flow(member, contexts[rows], 1, reference=reference)[0]
            if draws is None:
                draws = values.new_empty((len(contexts), values.shape[-1]))
            draws[rows] = values
        return draws.reshape(n, len(x), -1)


@register
class FlowModel(NeuralModel):
    """Conditional neural spline flow p(target | condition) (or a mixture of them)."""

    family = "flow"
    defaults: ClassVar[dict[str, Any]] = {
        **TRAINING_DEFAULTS, "average": 4.0,
        "transforms": 2, "bins": 12, "hidden": (219, 219, 219), "passes": None,
        "members": None, "affine": True, "affine_hidden": (64, 64), "components": 1,
        "experts": 1, "edges": "auto"}
    #: Models saved before ``affine_hidden`` existed (2026-12-07) used ``hidden`` there.
    legacy_values: ClassVar[dict[str, Any]] = {"affine_hidden": None}
    #: ``"fast"`` (models/flow_sampling.py) or ``"zuko"``, zuko's own inverse: the
    #: reference the fast sampler is checked and benchmarked against (same draws).
    sampler: str = "fast"

    def member_count(self) -> int:
        """Flows in the deep ensemble: ``members``, or by default 2 (1 with experts)."""
        hp = self.hyperparameters
        if hp["members"] is None:
            return 2 if int(hp["experts"]) == 1 else 1
        return int(hp["members"])

    def build(self, n_condition, n_target):
        hp = self.hyperparameters
        members = self.member_count()
        if members < 1:
            raise ModelError(f"members must be >= 1, got {hp['members']}")
        if int(hp["components"]) < 1:
            raise ModelError(f"components must be >= 1, got {hp['components']}")
        experts = int(hp["experts"])
        if experts < 1 or (experts > 1 and members > 1):
            raise ModelError(f"experts must be >= 1 and cannot be combined with members > "
                             f"1; got experts={hp['experts']}, members={hp['members']}")
        flows = [self._single_flow(n_condition, n_target) for _ in range(max(members, experts))]
        if experts > 1:
            return FlowEnsemble(flows, gate=mlp(n_condition, self._hidden(), experts))
        return flows[0] if members == 1 else FlowEnsemble(flows)

    def _hidden(self, key: str = "hidden") -> tuple[int, ...]:
        """Hidden layer widths of the conditioners: ``hidden`` for the splines, the base
        and the gate; ``affine_hidden`` (``None``: the same) for the location-scale
        transform."""
        widths = self.hyperparameters[key]
        if widths is None and key != "hidden":
            return self._hidden()
        widths = (widths,) if isinstance(widths, int) else widths
        try:
            sizes = tuple(int(h) for h in widths)
        except (TypeError, ValueError):
            sizes = ()
        if not sizes or any(h < 1 or h != w for h, w in zip(sizes, widths, strict=True)):
            raise ModelError(f"{key} must be positive integers (layer widths), got {widths!r}")
        return sizes

    def _single_flow(self, n_condition: int, n_target: int) -> torch.nn.Module:
        """One spline flow; with ``affine`` a conditional location-scale transform first
        standardises each target per condition row (one network pass), so narrow
        conditional distributions do not have to be carved out by the splines; with
        ``components`` > 1 the base is a conditional Gaussian mixture
        (models/mixture_base.py) instead of a standard normal."""
        hp = self.hyperparameters
        hidden = self._hidden()
        options = {} if hp["passes"] is None else {"passes": int(hp["passes"])}
        flow = zuko.flows.NSF(features=n_target, context=n_condition,
                              transforms=int(hp["transforms"]), bins=int(hp["bins"]),
                              hidden_features=hidden, randperm=n_target > 1, **options)
        transforms = list(flow.transform.transforms)
        if hp["affine"]:
            transforms.insert(0, MaskedAutoregressiveTransform(
                features=n_target, context=n_condition, passes=1,
                hidden_features=self._hidden("affine_hidden")))
        components = int(hp["components"])
        base = flow.base if components == 1 else ConditionalGaussianMixture(
            n_target, n_condition, components, hidden)
        return zuko.flows.Flow(transforms, base)

    def scaled_log_prob(self, x, y):
        if isinstance(self.network, FlowEnsemble):
            return self.network.log_prob(x, y)
        return self.network(x).log_prob(y)

    def training_log_prob(self, x, y):
        if isinstance(self.network, FlowEnsemble) and self.network.gate is None:
            return self.network.member_log_probs(x, y).mean(dim=0)
        return self.scaled_log_prob(x, y)

    def scaled_sample(self, x, n):
        if self.sampler not in ("fast", "zuko"):
            raise ModelError(f"sampler must be 'fast' or 'zuko', got {self.sampler!r}")
        reference = self.sampler == "zuko"
        if isinstance(self.network, FlowEnsemble):
            return self.network.sample(x, n, reference)
        return sample_flow(self.network, x, n, reference=reference)
