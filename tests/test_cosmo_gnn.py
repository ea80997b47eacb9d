"""The cosmology GNN: the moment loss recovers known posterior moments, a GNN trained on
a toy suite beats the prior mean with calibrated intervals, systematics can be trained
through, save/load round-trips, the shared loop's graph collate is backward compatible,
and bad input fails clearly.

The toy suite: Thomas cluster processes in 25 Mpc/h boxes (25 Poisson parents, Poisson
4 children each, ~100 galaxies) whose cluster radius (0.3 + 1.5 theta Mpc/h) and
velocity dispersion (100 + 600 theta km/s) grow with an "Omega_m"-like theta drawn
uniformly from [0.1, 0.5].
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from galhalo.cosmo import CosmoError, CosmoGNN, Galaxies, Systematics, evaluate_boxes
from galhalo.cosmo.calibration import leave_one_out_scale, validation_scores
from galhalo.cosmo.gnn import PosteriorGNN, mixture_moments, moment_loss
from galhalo.cosmo.metrics import expected_coverage
from galhalo.cosmo.training import collate_graphs, validation_split
from galhalo.models.base import ModelError
from galhalo.models.training import TrainingConfig, mean_loss, train

BOX = 25.0
PRIOR = (0.1, 0.5)


def thomas_box(theta: float, rng: np.random.Generator, parents: int = 25,
               children: float = 4.0) -> Galaxies:
    """A Thomas cluster process whose clusters widen and heat up with ``theta``."""
    centres = rng.uniform(0, BOX, (rng.poisson(parents), 3))
    owner = np.repeat(np.arange(len(centres)), rng.poisson(children, len(centres)))
    positions = np.mod(centres[owner] + rng.normal(0, 0.3 + 1.5 * theta, (len(owner), 3)),
                       BOX)
    positions[positions >= BOX] = 0.0
    bulk = rng.normal(0, 200, (len(centres), 3))
    velocities = bulk[owner] + rng.normal(0, 100 + 600 * theta, (len(owner), 3))
    return Galaxies(positions, velocities, BOX, {"smass": rng.normal(10, 0.5, len(owner))})


def toy_suite(n_boxes: int, seed: int) -> tuple[list[Galaxies], np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(*PRIOR, n_boxes)
    return [thomas_box(t, rng) for t in theta], theta


SMALL = {"hidden": 32, "layers": 2, "epochs": 30, "patience": 10, "batch_size": 16,
         "learning_rate": 2e-3}


@pytest.fixture(scope="module")
def trained():
    boxes, theta = toy_suite(240, seed=1)
    model = CosmoGNN(**SMALL).fit(boxes, theta, names=["Omega_m"], seed=0, progress=False)
    test_boxes, test_theta = toy_suite(200, seed=2)
    return model, test_boxes, test_theta


# ----------------------------------------------------------------------------- moment loss
def test_moment_loss_recovers_known_posterior_moments():
    """Three conditions (one-hot inputs) with known symmetric posteriors of different
    widths: two Gaussians and a uniform. A linear head can represent any per-condition
    (mean, std), so the fit's error is the sampling error of the training moments: the
    mean's standard error is s / sqrt(n), the standard deviation's
    s sqrt((kurtosis - 1) / 4n) (kurtosis 3 Gaussian, 1.8 uniform). Tolerance: 4
    standard errors."""
    rng = np.random.default_rng(3)
    n = 3000
    draws = [rng.normal(0.5, 0.1, n), rng.normal(-1.0, 0.3, n), rng.uniform(0.0, 0.8, n)]
    truth = [(0.5, 0.1, 3.0), (-1.0, 0.3, 3.0), (0.4, 0.8 / math.sqrt(12), 1.8)]
    x = np.repeat(np.eye(3), n, axis=0).astype(np.float32)
    y = np.concatenate(draws)[:, None].astype(np.float32)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 2)

    def loss(inputs, target):
        out = head(inputs)
        return moment_loss(out[:, :1], torch.nn.functional.softplus(out[:, 1:]), target)

    config = TrainingConfig(epochs=200, batch_size=1024, learning_rate=0.02, patience=30)
    train(head, loss, (x, y), (x, y), config, seed=0, progress=False)
    with torch.no_grad():
        out = head(torch.eye(3))
        mean = out[:, 0].numpy()
        std = torch.nn.functional.softplus(out[:, 1]).numpy()
    for j, (mu, sigma, kurtosis) in enumerate(truth):
        assert abs(mean[j] - mu) < 4 * sigma / math.sqrt(n), (j, mean[j], mu)
        assert abs(std[j] - sigma) < 4 * sigma * math.sqrt((kurtosis - 1) / (4 * n)), (
            j, std[j], sigma)


def test_moment_loss_checks_shapes():
    with pytest.raises(CosmoError, match="same shape"):
        moment_loss(torch.zeros(4, 1), torch.ones(4, 2), torch.zeros(4, 1))
    with pytest.raises(CosmoError, match="rows >= 1"):
        moment_loss(torch.zeros(0, 1), torch.ones(0, 1), torch.zeros(0, 1))


# ----------------------------------------------------------------------------- shared loop
def test_graph_collate_path_of_the_shared_loop_matches_the_tensor_path():
    """The same problem through ``collate`` (rows indexed by the collate) and through the
    default tensor indexing gives the same loss curve and weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    y = (x[:, :1] - x[:, 1:] + 0.1 * rng.normal(size=(300, 1))).astype(np.float32)
    results = []
    for collate in (None, lambda rows, index: rows[index]):
        torch.manual_seed(0)
        net = torch.nn.Linear(2, 1)

        def loss(inputs, target, net=net):
            return ((net(inputs) - target) ** 2).sum(dim=1)

        data_x = x if collate is None else torch.as_tensor(x)
        history = train(net, loss, (data_x[:200], y[:200]), (data_x[200:], y[200:]),
                        TrainingConfig(epochs=5, batch_size=32), seed=1, progress=False,
                        collate=collate)
        results.append(([h["valid"] for h in history], net.weight.detach().clone()))
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1], results[1][1])
    assert mean_loss(lambda a, b: (a - b).abs().sum(dim=1), torch.ones(5, 1),
                      torch.zeros(5, 1), 2, collate=lambda rows, i: rows[i]) == 1.0


# ----------------------------------------------------------------------------- toy suite
def test_trained_gnn_beats_the_prior_mean(trained):
    """Squared errors of the GNN's posterior mean against those of the training-set mean
    (the prior-mean prediction), paired over the 200 test boxes: the mean improvement must
    exceed 4 standard errors of the paired differences."""
    model, boxes, theta = trained
    result = evaluate_boxes(model, boxes, theta)
    mean = result["mean"][:, 0]
    prior_mean = model.scalers["parameters"].mean[0]
    gain = (theta - prior_mean) ** 2 - (theta - mean) ** 2
    assert gain.mean() > 4 * gain.std(ddof=1) / math.sqrt(len(gain))
    assert result["metrics"]["Omega_m"]["r2"] > 0
    assert model.metrics["epochs"] <= SMALL["epochs"]


def test_trained_gnn_intervals_are_calibrated(trained):
    """1-sigma coverage over n = 200 test boxes is binomial with p = erf(1 / sqrt 2) if
    calibrated: allow 3 binomial standard deviations sqrt(p (1 - p) / n) = 0.099."""
    model, boxes, theta = trained
    metrics = evaluate_boxes(model, boxes, theta)["metrics"]["Omega_m"]
    p = expected_coverage(1.0)
    assert abs(metrics["coverage_1sigma"] - p) < 3 * math.sqrt(p * (1 - p) / len(theta))


def test_save_load_round_trip(trained, tmp_path):
    model, boxes, _ = trained
    model.save(tmp_path / "gnn")
    config = json.loads((tmp_path / "gnn" / "config.json").read_text())
    assert config["family"] == "cosmo_gnn" and config["parameters"] == ["Omega_m"]
    loaded = CosmoGNN.load(tmp_path / "gnn")
    for a, b in zip(model.predict(boxes[:10]), loaded.predict(boxes[:10]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.metrics == model.metrics
    weights = tmp_path / "gnn" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelError, match="checksum"):
        CosmoGNN.load(tmp_path / "gnn")


def test_std_calibration_scales_only_the_std(trained):
    """The same fit without calibration gives the same means, and stds smaller by exactly
    the stored factor, which is the root mean squared standardised residual of the
    validation boxes (after it their in-sample chi^2 is 1). The recorded validation
    scores are out of sample: each box scored with the factor fitted on the other
    validation boxes (pins issue 17: ``metrics["valid"]`` chi^2 was 1 by construction)."""
    model, boxes, _ = trained
    train_boxes, theta = toy_suite(240, seed=1)
    raw = CosmoGNN(**SMALL, calibrate=False).fit(train_boxes, theta, names=["Omega_m"],
                                                 seed=0, progress=False)
    np.testing.assert_array_equal(raw.std_scale, [1.0])
    (mean, std), (raw_mean, raw_std) = model.predict(boxes[:20]), raw.predict(boxes[:20])
    np.testing.assert_allclose(mean, raw_mean, rtol=1e-6)
    np.testing.assert_allclose(std, raw_std * model.std_scale, rtol=1e-6)
    factor = model.metrics["std_scale"]["Omega_m"]
    assert factor == model.std_scale[0] != 1.0
    uncalibrated = model.metrics["valid_uncalibrated"]["Omega_m"]["chi2"]
    assert uncalibrated == pytest.approx(factor**2, rel=1e-9)
    assert raw.metrics["valid"]["Omega_m"]["chi2"] == pytest.approx(uncalibrated, rel=1e-5)
    assert raw.metrics["valid_calibration"] == "none"
    # out of sample: box i scored with the factor of the other validation boxes
    _, valid_rows = validation_split(len(train_boxes), 0.2, 0)
    valid_mean, valid_std = raw.predict([train_boxes[i] for i in valid_rows])
    squared = ((theta[valid_rows, None] - valid_mean) / valid_std) ** 2
    assert np.mean(squared) == pytest.approx(factor**2, rel=1e-4)  # the in-sample fit
    others = (squared.sum() - squared) / (len(squared) - 1)
    expected = float(np.mean(squared / others))
    assert model.metrics["valid_calibration"] == "leave-one-out"
    assert model.metrics["valid"]["Omega_m"]["chi2"] == pytest.approx(expected, rel=1e-4)
    assert abs(expected - 1.0) > 1e-3  # not 1 by construction
    assert model.metrics["valid"]["Omega_m"]["boxes"] == len(valid_rows)


def test_validation_scores_label_in_sample_and_out_of_sample_scores():
    """Old model directories (calibrated, no ``valid_calibration``) show their in-sample
    scores as such; new ones say leave-one-out; uncalibrated ones plain validation."""
    scores = {"Omega_m": {"chi2": 1.0}}
    old = {"valid": scores, "valid_uncalibrated": scores, "std_scale": {"Omega_m": 1.3}}
    assert list(validation_scores(old)) == [
        "validation, calibrated (in-sample: χ² = 1 by construction)",
        "validation, uncalibrated"]
    new = {**old, "valid_calibration": "leave-one-out"}
    assert next(iter(validation_scores(new))) == "validation, calibrated (leave-one-out)"
    plain = {"valid": scores, "valid_calibration": "none", "std_scale": {"Omega_m": 1.0}}
    assert validation_scores(plain) == {"validation": {"metrics": scores}}


def test_leave_one_out_scale_leaves_each_box_out():
    truth, mean = np.zeros((3, 1)), np.array([[1.0], [2.0], [3.0]])
    scale = leave_one_out_scale(truth, mean, np.ones((3, 1)))
    np.testing.assert_allclose(scale[:, 0], np.sqrt([(4 + 9) / 2, (1 + 9) / 2, (1 + 4) / 2]))
    with pytest.raises(CosmoError, match="at least 2 boxes"):
        leave_one_out_scale(truth[:1], mean[:1], np.ones((1, 1)))


def test_std_calibration_is_saved_and_checked_on_load(trained, tmp_path):
    """The factors round-trip through config.json; a directory without them (written
    before calibration existed) loads uncalibrated; bad factors are refused."""
    model, boxes, _ = trained
    model.save(tmp_path / "gnn")
    path = tmp_path / "gnn" / "config.json"
    config = json.loads(path.read_text())
    assert config["std_scale"] == model.std_scale.tolist()
    del config["std_scale"]
    path.write_text(json.dumps(config))
    old = CosmoGNN.load(tmp_path / "gnn")
    np.testing.assert_allclose(old.predict(boxes[:5])[1] * model.std_scale,
                               model.predict(boxes[:5])[1], rtol=1e-6)
    for bad in ([-1.0], [float("nan")], [1.0, 1.0]):
        path.write_text(json.dumps({**config, "std_scale": bad}))
        with pytest.raises(ModelError, match="std_scale"):
            CosmoGNN.load(tmp_path / "gnn")


def test_mixture_moments_match_the_law_of_total_variance():
    means = torch.tensor([[[0.0], [1.0]], [[2.0], [1.0]]])   # (members, rows, params)
    stds = torch.tensor([[[1.0], [0.5]], [[3.0], [0.5]]])
    mean, std = mixture_moments(means, stds)
    np.testing.assert_allclose(mean.numpy(), [[1.0], [1.0]])
    # row 0: <sigma^2> = (1 + 9) / 2 = 5, spread of the means 1; row 1: 0.25 + 0
    np.testing.assert_allclose(std.numpy(), [[math.sqrt(6.0)], [0.5]], rtol=1e-6)
    with pytest.raises(CosmoError, match="members"):
        mixture_moments(means[0], stds[0])


def test_ensemble_members_differ_and_combine_as_a_mixture(tmp_path):
    """members=2: member 0 is the single network of the same seed, member 1 another
    network; predictions are the calibrated mixture of the two; save -> load keeps it."""
    boxes, theta = toy_suite(80, seed=6)
    settings = {**SMALL, "epochs": 6, "calibrate": False}
    single = CosmoGNN(**settings).fit(boxes, theta, seed=3, progress=False)
    pair = CosmoGNN(**settings, members=2).fit(boxes, theta, seed=3, progress=False)
    first, second = pair.network.members
    for a, b in zip(single.network.state_dict().values(), first.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)
    batch = collate_graphs(pair._scaled(pair.graphs(boxes[:8])), torch.arange(8))
    with torch.no_grad():
        (m0, s0), (m1, s1) = first(batch), second(batch)
    assert not torch.allclose(m0, m1)
    mean, std = pair.predict(boxes[:8])
    scale = pair.scalers["parameters"].scale
    expected = mixture_moments(torch.stack([m0, m1]), torch.stack([s0, s1]))
    np.testing.assert_allclose(mean, pair.scalers["parameters"].inverse(
        expected[0].double().numpy()), rtol=1e-5)
    np.testing.assert_allclose(std, expected[1].double().numpy() * scale, rtol=1e-5)
    assert len(pair.metrics["member_epochs"]) == 2
    assert {h["member"] for h in pair.history} == {0, 1}
    from galhalo.report.cosmo_report import _loss_figure
    assert len(_loss_figure(pair.history).axes[0].lines) == 4  # train + valid per member
    pair.save(tmp_path / "pair")
    loaded = CosmoGNN.load(tmp_path / "pair")
    for a, b in zip(pair.predict(boxes[:8]), loaded.predict(boxes[:8]), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelError, match="members"):
        CosmoGNN(members=0)


def test_redshift_space_masked_noisy_training_still_learns():
    """A model trained and tested through redshift space, a 20% mask and errors
    (0.2 Mpc/h, 50 km/s): line-of-sight features, and skill over the prior mean (paired
    squared errors, 4 standard errors, as above)."""
    systematics = Systematics(redshift_space=True, mask_fraction=0.2, position_error=0.2,
                              velocity_error=50.0)
    boxes, theta = toy_suite(160, seed=4)
    model = CosmoGNN(systematics, **{**SMALL, "epochs": 20}).fit(boxes, theta, seed=0,
                                                                  progress=False)
    assert model.graph_config.line_of_sight
    assert model.observe(boxes[:1])[0].line_of_sight_only
    test_boxes, test_theta = toy_suite(100, seed=5)
    mean = model.predict(test_boxes, seed=1)[0][:, 0]
    prior_mean = model.scalers["parameters"].mean[0]
    gain = (test_theta - prior_mean) ** 2 - (test_theta - mean) ** 2
    assert gain.mean() > 4 * gain.std(ddof=1) / math.sqrt(len(gain))


# ----------------------------------------------------------------------------- bad input
def test_bad_input_fails_clearly(trained):
    model, boxes, theta = trained
    with pytest.raises(CosmoError, match="shape"):
        CosmoGNN(**SMALL).fit(boxes[:10], theta[:9], progress=False)
    with pytest.raises(CosmoError, match="NaN"):
        CosmoGNN(**SMALL).fit(boxes[:10], np.full(10, np.nan), progress=False)
    with pytest.raises(CosmoError, match="too few"):
        CosmoGNN(**SMALL).fit(boxes[:2], theta[:2], progress=False)
    with pytest.raises(CosmoError, match="sequence of Galaxies"):
        CosmoGNN(**SMALL).fit(boxes[0], theta[:1], progress=False)
    with pytest.raises(ModelError, match="unknown cosmo_gnn hyperparameters"):
        CosmoGNN(hiden=3)
    with pytest.raises(ModelError, match="hidden"):
        CosmoGNN(hidden=0)
    with pytest.raises(ModelError, match="not fitted"):
        CosmoGNN().predict(boxes[:2])
    with pytest.raises(CosmoError, match="feature counts"):
        model.predict_graphs(CosmoGNN(line_of_sight=True).graphs(boxes[:2]))
    with pytest.raises(CosmoError, match="properties"):
        CosmoGNN(properties=("color",)).fit(boxes[:10], theta[:10], progress=False)
    with pytest.raises(ModelError, match="not a model directory"):
        CosmoGNN.load("/nonexistent/model")
    assert model.box_size == BOX
    big = Galaxies(boxes[0].positions * 2, boxes[0].velocities, 2 * BOX)
    with pytest.raises(CosmoError, match=r"box 1 is 50 Mpc/h.*trained on 25 Mpc/h"):
        model.predict([boxes[0], big])


def test_predicted_vs_true_figure(trained, tmp_path):
    from galhalo.report.cosmo_figure import predicted_vs_true, write_predicted_vs_true

    model, boxes, theta = trained
    results = {"in": evaluate_boxes(model, boxes[:40], theta[:40]),
               "out": evaluate_boxes(model, boxes[40:80], theta[40:80] + 0.01)}
    figure = predicted_vs_true(results, model.parameter_names)
    (axis,) = figure.axes
    assert len(axis.containers) == 2  # one error-bar set per suite
    assert "R²=" in axis.get_legend().get_texts()[0].get_text()
    path = write_predicted_vs_true(results, ["Omega_m"], tmp_path / "pvt.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="at least one"):
        predicted_vs_true({}, ["Omega_m"])
    with pytest.raises(CosmoError, match="rows of true parameters"):
        evaluate_boxes(model, boxes[:3], theta[:2])


def test_evaluate_suites_reads_suites_through_the_suite_api(trained):
    import pandas as pd

    from galhalo.catalog import Catalog, CatalogMeta
    from galhalo.cosmo import evaluate_suites

    model, boxes, theta = trained
    names = [f"LH_{i}" for i in range(20)]
    tables = {name: pd.DataFrame({**dict(zip("xyz", box.positions.T, strict=True)),
                                  **dict(zip(("vx", "vy", "vz"), box.velocities.T,
                                             strict=True))})
              for name, box in zip(names, boxes, strict=False)}
    suite = SimpleNamespace(
        names=names, parameters=pd.DataFrame({"Omega_m": theta[:20]}, index=names),
        catalog=lambda name: Catalog(tables[name], CatalogMeta(box_size=BOX)))
    results = evaluate_suites(model, {"toy": suite}, seed=0)
    direct = evaluate_boxes(model, boxes[:20], theta[:20], seed=0)
    np.testing.assert_allclose(results["toy"]["mean"], direct["mean"], rtol=1e-6)
    assert results["toy"]["metrics"]["Omega_m"] == pytest.approx(direct["metrics"]["Omega_m"])
    with pytest.raises(CosmoError, match="suite bad"):
        evaluate_suites(model, {"bad": SimpleNamespace(names=[], parameters=None,
                                                       catalog=None)})


def test_network_output_shapes_and_positive_std(trained):
    model, boxes, _ = trained
    graphs = model._scaled(model.graphs(boxes[:3]))
    mean, std = model.network(collate_graphs(graphs, torch.arange(3)))
    assert mean.shape == std.shape == (3, 1)
    assert (std > 0).all()
    with pytest.raises(CosmoError, match=">= 1"):
        PosteriorGNN(3, 5, 1, 1, hidden=0)
