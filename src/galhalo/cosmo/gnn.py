"""A graph neural network that predicts the posterior mean and standard deviation of
cosmological parameters from a galaxy graph, and the moment loss that trains it.

Architecture (in the spirit of [dS23]'s edge + node message passing):

* encoders: node, edge and global features -> ``hidden`` units (two-layer MLPs);
* ``layers`` interaction blocks, each with residual updates
  ``e_ij <- e_ij + phi_e([h_i, h_j, e_ij])`` then
  ``h_i <- h_i + phi_h([h_i, sum_j e_ij, max_j e_ij, mean_j e_ij, u])``;
* readout: sum (divided by ``node_scale``, a typical galaxy count), max and mean of the
  node states over the graph, with the global features, -> MLP -> per parameter a
  mean and a standard deviation (softplus, floored at ``MIN_STD``).

It is trained with :func:`moment_loss`. :class:`PosteriorEnsemble` combines several
independently trained networks (a deep ensemble, Lakshminarayanan et al. 2017) into the
moments of their equal-weight mixture.

Everything works in the scaled spaces set up by ``cosmo.training`` (standardised
features and parameters).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from ..errors import CosmoError

__all__ = ["MIN_STD", "InteractionBlock", "PosteriorEnsemble", "PosteriorGNN",
           "mixture_moments", "moment_loss"]

#: Added inside the moment loss's logs so a perfect batch gives a finite loss.
TINY = 1e-12
#: Smallest predicted standard deviation, in units of the parameter's scaled (prior)
#: spread.
MIN_STD = 1e-3


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


class InteractionBlock(MessagePassing):
    """One edge update then one node update, both residual; the node update sees the
    sum, max and mean of the updated incoming edge states."""

    def __init__(self, hidden: int, n_global: int):
        super().__init__(aggr=["sum", "max", "mean"])
        self.edge_mlp = _mlp(3 * hidden, hidden, hidden)
        self.node_mlp = _mlp(4 * hidden + n_global, hidden, hidden)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor,
                u_nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (nodes, hidden), edge_index (2, E) (sender, receiver), e (E, hidden),
        u_nodes (nodes, globals) -> updated (h, e)."""
        senders, receivers = edge_index
        e = e + self.edge_mlp(torch.cat([h[receivers], h[senders], e], dim=1))
        aggregated = self.propagate(edge_index, e=e, size=(len(h), len(h)))
        h = h + self.node_mlp(torch.cat([h, aggregated, u_nodes], dim=1))
        return h, e

    def message(self, e: torch.Tensor) -> torch.Tensor:
        return e


class PosteriorGNN(nn.Module):
    """Graph -> posterior mean and standard deviation of ``n_parameters`` parameters.

    Args:
        n_node, n_edge, n_global: feature counts of the graphs (``n_global`` may be 0).
        n_parameters: parameters inferred.
        hidden: width of every hidden layer and state.
        layers: interaction blocks (>= 1).
        node_scale: the graph sum of node states is divided by this (a typical galaxy
            count) so its size does not grow with the box's galaxy count.
    """

    def __init__(self, n_node: int, n_edge: int, n_global: int, n_parameters: int,
                 hidden: int = 64, layers: int = 2, node_scale: float = 1.0):
        super().__init__()
        if hidden < 1 or layers < 1 or n_parameters < 1 or n_node < 1 or n_edge < 1:
            raise CosmoError("hidden, layers, n_parameters, n_node and n_edge must be >= 1")
        self.n_parameters = n_parameters
        self.node_scale = float(node_scale)
        self.node_encoder = _mlp(n_node, hidden, hidden)
        self.edge_encoder = _mlp(n_edge, hidden, hidden)
        self.blocks = nn.ModuleList(InteractionBlock(hidden, n_global) for _ in range(layers))
        self.readout = nn.Sequential(nn.Linear(3 * hidden + n_global, hidden), nn.SiLU(),
                                     nn.Linear(hidden, hidden), nn.SiLU(),
                                     nn.Linear(hidden, 2 * n_parameters))

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of B graphs (``x``, ``edge_index``, ``edge_attr``, ``u`` (B, globals),
        ``batch``) -> (mean (B, parameters), std (B, parameters)), scaled units."""
        graph = batch.batch if batch.batch is not None else torch.zeros(
            batch.num_nodes, dtype=torch.long)
        n_graphs = batch.u.shape[0]
        u_nodes = batch.u[graph]
        h = self.node_encoder(batch.x)
        e = self.edge_encoder(batch.edge_attr)
        for block in self.blocks:
            h, e = block(h, batch.edge_index, e, u_nodes)
        pooled = torch.cat([
            scatter(h, graph, 0, dim_size=n_graphs, reduce="sum") / self.node_scale,
            scatter(h, graph, 0, dim_size=n_graphs, reduce="max"),
            scatter(h, graph, 0, dim_size=n_graphs, reduce="mean"),
            batch.u], dim=1)
        out = self.readout(pooled)
        mean, raw = out[:, :self.n_parameters], out[:, self.n_parameters:]
        return mean, nn.functional.softplus(raw) + MIN_STD


def mixture_moments(means: torch.Tensor, stds: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of an equal-weight mixture of M posteriors.

    Args:
        means, stds: (M, rows, parameters).

    Returns:
        (mean, std), each (rows, parameters): ``<mu_m>`` and
        ``sqrt(<sigma_m^2> + <mu_m^2> - <mu_m>^2)`` (the law of total variance).
    """
    if means.shape != stds.shape or means.ndim != 3 or len(means) == 0:
        raise CosmoError(f"means {tuple(means.shape)} and stds {tuple(stds.shape)} must "
                         "both be (members >= 1, rows, parameters)")
    mean = means.mean(dim=0)
    variance = (stds**2).mean(dim=0) + ((means - mean) ** 2).mean(dim=0)
    return mean, variance.sqrt()


class PosteriorEnsemble(nn.Module):
    """Several :class:`PosteriorGNN` trained apart (own initialisation and batch order)
    whose outputs combine as an equal-weight mixture (:func:`mixture_moments`): the
    spread of the members' means adds the part of the uncertainty one network's σ misses
    on boxes unlike its training set."""

    def __init__(self, members: list[PosteriorGNN]):
        super().__init__()
        if not members:
            raise CosmoError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`PosteriorGNN.forward`, for the mixture."""
        outputs = [member(batch) for member in self.members]
        return mixture_moments(torch.stack([mean for mean, _ in outputs]),
                               torch.stack([std for _, std in outputs]))


def moment_loss(mean: torch.Tensor, std: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The moment loss of a batch (a 0-d tensor), summed over parameters.

    ``log <(truth - mean)^2> + log <((truth - mean)^2 - std^2)^2>``, averages over the
    batch's rows: the moment network loss of Jeffrey & Wandelt (2020) used by [dS23]. For
    a flexible network, the second term is minimised pointwise by std^2 = E[(truth -
    mean)^2 | data] and the first by mean = E[truth | data]; for a symmetric posterior
    this point is the minimum of the sum (a skewed one pulls the mean slightly, towards
    a smaller spread of the squared residuals). The logs make both terms scale-free, so
    a narrow posterior trains as fast as a wide one; the loss is therefore one value per
    batch, which the shared loop accepts.

    Args:
        mean, std, truth: (rows, parameters), the same (scaled) units.
    """
    if not (mean.shape == std.shape == truth.shape) or mean.ndim != 2 or len(mean) == 0:
        raise CosmoError(f"mean {tuple(mean.shape)}, std {tuple(std.shape)} and truth "
                         f"{tuple(truth.shape)} must have the same shape (rows >= 1, "
                         "parameters)")
    residual = (truth - mean) ** 2
    spread = (residual - std**2) ** 2
    return (torch.log(residual.mean(dim=0) + TINY)
            + torch.log(spread.mean(dim=0) + TINY)).sum()
