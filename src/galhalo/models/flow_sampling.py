"""Fast exact sampling of zuko's masked autoregressive flows (the flow family's sampler).

zuko inverts a masked autoregressive transform with ``passes`` full sweeps: each sweep
runs the whole masked network on every galaxy and inverts every feature's spline, and
only the features of the next group come out right. The masks make most of that work
unnecessary. ``MaskedMLP`` gives each hidden unit the dependencies of one output group,
so a unit's *level* (0 if it sees only the halo features, ``g + 1`` if it sees target
features up to group ``g``) says in which sweep its value becomes final. This sampler
runs sweep ``g`` on the level-``g`` units only, evaluates the network outputs and the
spline of group ``g`` only, and keeps everything of level 0 (which depends on the halo
alone) at one row per halo instead of one per galaxy; the products of a sweep accumulate
in place. The arithmetic per unit and per spline is zuko's, so draws agree with
``flow(x).sample((n,))`` to float rounding and consume the random generator identically
(the base draw is zuko's own).

Measured (the last column of the table in docs/models.md, ``python
benchmarks/models.py``): several times zuko's sampler. Flows this module does not
recognise (other layers, residual networks, other univariate transforms) are sampled by
zuko.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
import zuko
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.nn import MaskedLinear
from zuko.transforms import MonotonicAffineTransform, MonotonicRQSTransform

Blocks = list[torch.Tensor]


@dataclass
class _Layer:
    """One masked linear layer, split by level: ``weights[g][h]`` maps the inputs of
    level ``h`` to the outputs of level ``g`` (``h <= g``); ``bias[g]`` their bias."""

    weights: list[list[torch.Tensor]]
    bias: list[torch.Tensor]


@dataclass
class _Transform:
    """One masked autoregressive transform, ready to invert group by group."""

    hidden: list[_Layer]
    output: _Layer            # levels = feature groups; rows = (feature, parameter)
    groups: list[torch.Tensor]  # feature indices of each group (input level g + 1)
    kind: str                 # "spline" or "affine"
    blocks: list[slice]       # parameter kinds within one feature's parameters
    bound: float
    slope: float


def _levels_of(mask: torch.Tensor, input_levels: torch.Tensor) -> torch.Tensor:
    """Level of every output unit: the highest level among the inputs it sees."""
    seen = torch.where(mask, input_levels[None, :], torch.full_like(mask, -1, dtype=torch.long))
    return seen.max(dim=1).values.clamp(min=0)


def _split(layer: MaskedLinear, out_levels: torch.Tensor, in_levels: torch.Tensor,
           levels: int) -> _Layer:
    weight = (layer.mask * layer.weight).detach()
    bias = layer.bias.detach()
    rows = [torch.nonzero(out_levels == g).squeeze(1) for g in range(levels)]
    cols = [torch.nonzero(in_levels == h).squeeze(1) for h in range(levels)]
    return _Layer(weights=[[weight[r][:, cols[h]] for h in range(g + 1)]
                           for g, r in enumerate(rows)],
                  bias=[bias[r] for r in rows])


def _univariate(transform: MaskedAutoregressiveTransform) -> tuple[str, float, float] | None:
    univariate = transform.univariate
    if univariate is MonotonicAffineTransform:
        return "affine", 0.0, 1e-3
    if isinstance(univariate, partial) and univariate.func is MonotonicRQSTransform \
            and not univariate.args:
        keywords = univariate.keywords
        if set(keywords) <= {"slope", "bound"}:
            return "spline", float(keywords.get("bound", 5.0)), float(keywords.get("slope",
                                                                                 1e-3))
    return None


def _prepare(transform: torch.nn.Module) -> _Transform | None:
    """Split one zuko transform by level, or ``None`` if it is not one we can invert."""
    if not isinstance(transform, MaskedAutoregressiveTransform) or transform.order is None:
        return None
    kind = _univariate(transform)
    layers = list(transform.hyper)
    linear = [layer for layer in layers if isinstance(layer, MaskedLinear)]
    if (kind is None or len(linear) != (len(layers) + 1) // 2
            or any(not isinstance(layer, torch.nn.ReLU) for layer in layers[1::2])
            or any(not isinstance(layer, MaskedLinear) for layer in layers[0::2])):
        return None
    order = transform.order.long()
    passes = int(order.max()) + 1
    context = linear[0].in_features - len(order)
    in_levels = torch.cat([order + 1, torch.zeros(context, dtype=torch.long)])
    hidden = []
    for layer in linear[:-1]:
        out_levels = _levels_of(layer.mask.bool(), in_levels)
        if int(out_levels.max()) >= passes:  # hidden levels are 0..passes-1: no unit
            return None                      # may see the last group
        hidden.append(_split(layer, out_levels, in_levels, passes))
        in_levels = out_levels
    total = transform.total
    out_groups = order.repeat_interleave(total)
    seen = _levels_of(linear[-1].mask.bool(), in_levels)
    if bool((seen > out_groups).any()):
        return None
    groups = [torch.nonzero(order == g).squeeze(1) for g in range(passes)]
    output = _split(linear[-1], out_groups, in_levels, passes)
    blocks = _parameter_blocks(kind[0], total)
    for g, features in enumerate(groups):
        _by_kind(output, g, len(features), blocks)
    return _Transform(hidden=hidden, output=output, groups=groups, kind=kind[0],
                      blocks=blocks, bound=kind[1], slope=kind[2])


def _parameter_blocks(kind: str, total: int) -> list[slice]:
    """The parameter kinds of one feature: (shift, scale) or (widths, heights, slopes)."""
    if kind == "affine":
        return [slice(0, 1), slice(1, 2)]
    bins = (total + 1) // 3
    return [slice(0, bins), slice(bins, 2 * bins), slice(2 * bins, total)]


def _by_kind(layer: _Layer, group: int, features: int, blocks: list[slice]) -> None:
    """Reorder the output rows of ``group`` from (feature, parameter) to (parameter
    kind, feature, parameter), so each kind comes out as one contiguous block."""
    local = torch.arange(layer.bias[group].numel()).reshape(features, -1)
    order = torch.cat([local[:, block].reshape(-1) for block in blocks])
    layer.weights[group] = [weight[order] for weight in layer.weights[group]]
    layer.bias[group] = layer.bias[group][order]


def _soft_clip(raw: torch.Tensor, slope: float, factor: float) -> torch.Tensor:
    """zuko's bounded reparametrisation raw / (1 + |factor raw / log slope|)."""
    return raw / (raw.abs().mul_(factor / abs(math.log(slope))).add_(1))


def _knots(raw: torch.Tensor, bound: float, slope: float) -> torch.Tensor:
    """Knot positions (..., K + 1) from -bound to bound, from raw bin sizes (..., K)."""
    # the soft clip keeps |raw| < |log slope| / 2, so exp needs no max subtraction
    cumulative = torch.cumsum(_soft_clip(raw, slope, 2.0).exp_(), dim=-1)
    inner = (cumulative / cumulative[..., -1:]).mul_(2 * bound).sub_(bound)
    return F.pad(inner, (1, 0), value=-bound)


def _spline_inverse(phi: list[torch.Tensor], y: torch.Tensor, bound: float,
                    slope: float) -> torch.Tensor:
    """zuko's ``MonotonicRQSTransform`` inverse.

    ``phi`` = [widths (..., m, K), heights (..., m, K), slopes (..., m, K - 1)] and ``y``
    (..., m, N): N values per spline (N draws of one halo's spline, or N = 1)."""
    horizontal = _knots(phi[0], bound, slope)
    vertical = _knots(phi[1], bound, slope)
    derivatives = F.pad(_soft_clip(phi[2], slope, 1.0).exp_(), (1, 1), value=1.0)
    bins = phi[0].shape[-1]
    k = torch.searchsorted(vertical, y.contiguous()) - 1
    inside = torch.logical_and(0 <= k, k < bins)
    k0 = k.remainder_(bins)
    k1 = k0 + 1
    x0, x1 = horizontal.gather(-1, k0), horizontal.gather(-1, k1)
    y0, y1 = vertical.gather(-1, k0), vertical.gather(-1, k1)
    d0, d1 = derivatives.gather(-1, k0), derivatives.gather(-1, k1)
    height = y1 - y0
    s = height / (x1 - x0)
    y_ = inside * (y - y0)
    curvature = d0 + d1 - 2 * s
    a = height * (s - d0) + y_ * curvature
    b = height * d0 - y_ * curvature
    c = -s * y_
    z = 2 * c / (-b - (b**2 - 4 * a * c).sqrt())
    return torch.where(inside, x0 + z * (x1 - x0), y)


def _univariate_inverse(t: _Transform, phi: torch.Tensor, y: torch.Tensor,
                        per_halo: bool) -> torch.Tensor:
    """Invert group values y (n, B, m) with parameters phi (B or n x B, m x total)
    laid out by kind (see ``_by_kind``)."""
    m = y.shape[-1]
    parts = [chunk.unflatten(-1, (m, -1))
             for chunk in phi.split([m * (b.stop - b.start) for b in t.blocks], dim=-1)]
    if t.kind == "affine":
        shift, scale = parts[0][..., 0], parts[1][..., 0]
        return (y - shift) / _soft_clip(scale, t.slope, 1.0).exp_()
    if per_halo:  # draws last: (B, m, n), one spline per halo and feature
        return _spline_inverse(parts, y.permute(1, 2, 0), t.bound, t.slope).permute(2, 0, 1)
    return _spline_inverse(parts, y[..., None], t.bound, t.slope)[..., 0]


def _affine_map(layer: _Layer, level: int, blocks: Blocks) -> torch.Tensor:
    """Pre-activation of the level-``level`` outputs from the input blocks so far."""
    weights = layer.weights[level]
    halo = torch.addmm(layer.bias[level], blocks[0], weights[0].T)
    later = [(blocks[h], w) for h, w in enumerate(weights) if h and w.shape[1]]
    if not later:
        return halo
    n, batch = later[0][0].shape[:2]
    if n == 1:
        total = halo
        for block, weight in later:
            total.addmm_(block[0], weight.T)
        return total[None]
    total = None
    for block, weight in later:
        flat = block.reshape(n * batch, -1)
        total = flat @ weight.T if total is None else total.addmm_(flat, weight.T)
    return total.view(n, batch, -1).add_(halo)


def _invert(t: _Transform, context: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x with f(x | context) = y; context (B, C), y (n, B, d)."""
    inputs: Blocks = [context]
    activations: list[Blocks] = [[] for _ in t.hidden]
    x = torch.empty_like(y)
    for g, features in enumerate(t.groups):
        blocks = inputs
        for layer, done in zip(t.hidden, activations, strict=True):
            done.append(torch.relu(_affine_map(layer, g, blocks)))
            blocks = done
        phi = _affine_map(t.output, g, blocks)
        values = _univariate_inverse(t, phi, y[..., features], per_halo=phi.dim() == 2)
        x[..., features] = values
        inputs = [*inputs, values]
    return x


class FastSampler:
    """Exact, faster sampling from a zuko ``Flow`` of masked autoregressive transforms.

    Built once per set of weights (``FastSampler.build(flow)`` returns ``None`` when the
    flow has parts this sampler does not know; use zuko then)."""

    def __init__(self, flow: zuko.flows.Flow, transforms: list[_Transform]):
        self.flow = flow
        self.transforms = transforms

    @classmethod
    def build(cls, flow: torch.nn.Module) -> FastSampler | None:
        if not isinstance(flow, zuko.flows.Flow):
            return None
        prepared = []
        for transform in flow.transform.transforms:
            ready = _prepare(transform)
            if ready is None:
                return None
            prepared.append(ready)
        return cls(flow, prepared) if prepared else None

    def sample(self, context: torch.Tensor, n: int) -> torch.Tensor:
        """(n, B, d) draws given context (B, C); same generator use as zuko's."""
        base = self.flow.base(context).expand(context.shape[:-1])
        z = base.rsample((n,)) if base.has_rsample else base.sample((n,))
        for transform in reversed(self.transforms):
            z = _invert(transform, context, z)
        return z


def _weights_key(flow: torch.nn.Module) -> tuple[tuple[int, int], ...]:
    """Identifies the flow's current weights: each tensor's storage and in-place version
    (an optimiser step or ``load_state_dict`` changes it)."""
    return tuple((tensor.data_ptr(), tensor._version)
                 for tensor in (*flow.parameters(), *flow.buffers()))


def fast_sampler(flow: torch.nn.Module) -> FastSampler | None:
    """``FastSampler.build(flow)``, kept on the flow until its weights change, so
    sampling a catalog chunk by chunk splits the weights once."""
    key = _weights_key(flow)
    cached = flow.__dict__.get("_fast_sampler")
    if cached is None or cached[0] != key:
        cached = (key, FastSampler.build(flow))
        flow.__dict__["_fast_sampler"] = cached
    return cached[1]


def sample_flow(flow: torch.nn.Module, context: torch.Tensor, n: int, *,
                reference: bool = False) -> torch.Tensor:
    """(n, B, d) draws of a conditional zuko flow given context (B, C): the fast exact
    sampler when it knows the flow's parts, zuko's own otherwise or with ``reference``
    (same draws to float rounding)."""
    sampler = None if reference else fast_sampler(flow)
    if sampler is None:
        return flow(context).sample((n,))
    return sampler.sample(context, n)
