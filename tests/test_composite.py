"""The composite galaxy-halo model (issue #19): construction checks, the placement
geometry, both painting paths, seeds, persistence, the mock builder and the command
line (compose, sample, info, bad input)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import galhalo
from galhalo.catalog import Catalog, read_catalog, write_catalog
from galhalo.catalog.hosts import central_rows, orbit_in_host
from galhalo.catalog.virial import virial_radius
from galhalo.cli import app
from galhalo.errors import ModelError
from galhalo.mock import make_mock
from galhalo.models import model_family
from galhalo.models.composite import PAINTED_ID_BASE, CompositeModel, load_any
from galhalo.models.painting import painting_seeds, place_satellites, rank_within_hosts

try:  # click < 8.2 mixes stderr into stdout unless told not to
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()

BOX = 57.0
FAST = {"epochs": 4, "patience": 2, "hidden": (16, 16)}
POSITION, VELOCITY = ["x", "y", "z"], ["vx", "vy", "vz"]


@pytest.fixture(scope="module")
def universe() -> Catalog:
    return galhalo.simulate(1500, BOX, 3, satellites=True)


@pytest.fixture(scope="module")
def parts(universe):
    """Tiny fitted components: gauss centrals, a Poisson occupation, a flow profile,
    gauss satellites (one on the orbit, one also on M_peak)."""
    centrals, satellites = universe.centrals().table, universe.satellites().table
    profile = model_family("flow")(epochs=3, patience=2, hidden=(16, 16), transforms=2,
                                   bins=4).fit(satellites, "M_h", "r_host,v_r,v_t",
                                               seed=0, progress=False)
    gauss = model_family("gauss")
    return {
        "central": gauss(**FAST).fit(centrals, "M_h,C_h", "smass,color", seed=0,
                                     progress=False),
        "occupation": model_family("occupation")(**FAST, poisson=True).fit(
            centrals, "M_h", "N_sat", seed=0, progress=False),
        "profile": profile,
        "satellite": gauss(**FAST).fit(satellites, "M_h,r_host", "smass,color", seed=0,
                                       progress=False),
        "subhalo_satellite": gauss(**FAST).fit(satellites, "M_h,M_peak", "smass,color",
                                               seed=0, progress=False),
    }


@pytest.fixture(scope="module")
def composite(parts) -> CompositeModel:
    return CompositeModel(parts["central"], parts["occupation"], parts["profile"],
                          parts["satellite"])


@pytest.fixture(scope="module")
def hosts(universe) -> pd.DataFrame:
    return universe.centrals().table


# ----------------------------------------------------------------------------- geometry
def test_placement_is_the_inverse_of_orbit_in_host():
    """Hosts near the box edges (positions wrap): orbit_in_host of the placed satellites
    returns the r_host, v_r, v_t they were placed with."""
    rng = np.random.default_rng(1)
    n, box = 5000, 50.0
    host_position = rng.choice([0.01, 25.0, 49.99], size=(n, 3))
    host_velocity = rng.normal(0, 300, (n, 3))
    radius = rng.uniform(0.1, 1.5, n)
    r_host, v_r, v_t = rng.uniform(0, 3, n), rng.normal(0, 200, n), rng.uniform(0, 400, n)
    position, velocity = place_satellites(host_position, host_velocity, radius, r_host, v_r,
                                          v_t, np.random.default_rng(2), box)
    assert ((position >= 0) & (position < box)).all()
    back = orbit_in_host(position, velocity, host_position, host_velocity, radius, box)
    for got, expected in zip(back, (r_host, v_r, v_t), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_placement_directions_are_isotropic():
    """The mean unit vector of n placements is 0 within 5 sigma (sigma^2 = 1 / (3 n) per
    axis); the tangential direction is perpendicular to the radius."""
    n = 20_000
    zeros = np.zeros((n, 3))
    position, velocity = place_satellites(zeros + 10, zeros, np.ones(n), np.ones(n),
                                          np.zeros(n), np.ones(n), np.random.default_rng(3))
    unit = position - 10
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-12)
    assert (np.abs(unit.mean(axis=0)) < 5 / np.sqrt(3 * n)).all()
    np.testing.assert_allclose((unit * velocity).sum(axis=1), 0.0, atol=1e-12)
    assert (np.abs(velocity.mean(axis=0)) < 5 / np.sqrt(3 * n)).all()


def test_rank_within_hosts():
    host = np.array([2, 0, 2, 2, 0, 1])
    value = np.array([5.0, 1.0, 7.0, 6.0, 3.0, 4.0])
    np.testing.assert_array_equal(rank_within_hosts(host, value), [2, 1, 0, 1, 0, 0])


# ----------------------------------------------------------------------------- construction
def test_construction_checks_name_the_component(parts):
    central, occupation, profile, satellite = (parts[k] for k in
                                               ("central", "occupation", "profile", "satellite"))
    with pytest.raises(ModelError, match=r"central component.*N_sat"):
        CompositeModel(occupation, occupation, profile, satellite)
    with pytest.raises(ModelError, match=r"occupation component.*count model"):
        CompositeModel(central, satellite, profile, satellite)
    with pytest.raises(ModelError, match=r"profile component.*r_host, v_r, v_t"):
        CompositeModel(central, occupation, satellite, satellite)
    with pytest.raises(ModelError, match="satellite component's target"):
        CompositeModel(central, occupation, profile, profile)
    with pytest.raises(ModelError, match="central component conditions on r_host"):
        CompositeModel(satellite, occupation, profile, satellite)
    model = CompositeModel(central, occupation, profile, parts["subhalo_satellite"])
    assert model.needs_subhalos and model.subhalo_columns == ("M_peak",)
    assert not CompositeModel(central, occupation, profile, satellite).needs_subhalos


# ----------------------------------------------------------------------------- halo-only path
def test_paint_hosts(composite, parts, hosts, universe):
    """One central per host; each host's satellites are its drawn N_sat; orbits are the
    profile's draws; positions inside the box; the frame is a valid catalog."""
    seed = 5
    out = composite.paint(hosts, seed, box=BOX)
    seeds = painting_seeds(seed)
    central = out["is_central"].to_numpy()
    assert central.sum() == len(hosts)
    np.testing.assert_array_equal(out.loc[central, "halo_id"], hosts["halo_id"])
    drawn = parts["occupation"].sample(hosts, 1, seeds["occupation"])[0, :, 0]
    per_host = out.loc[~central, "host_id"].value_counts().reindex(hosts["halo_id"],
                                                                  fill_value=0)
    np.testing.assert_array_equal(per_host.to_numpy(), drawn)
    np.testing.assert_array_equal(out.loc[central, "N_sat"], drawn)
    # the profile's draws, on the hosts repeated by their counts (the output's order)
    repeated = hosts.iloc[np.repeat(np.arange(len(hosts)), drawn)]
    orbit = parts["profile"].sample(repeated, 1, seeds["profile"])[0]
    satellites = out[~central]
    hosts_of = out.iloc[central_rows(out)[~central]]
    back = orbit_in_host(satellites[POSITION].to_numpy(), satellites[VELOCITY].to_numpy(),
                         hosts_of[POSITION].to_numpy(), hosts_of[VELOCITY].to_numpy(),
                         virial_radius(hosts_of["M_h"].to_numpy()), BOX)
    for j, name in enumerate(("r_host", "v_r", "v_t")):
        np.testing.assert_allclose(satellites[name], orbit[:, j], rtol=1e-12)
        np.testing.assert_allclose(back[j], orbit[:, j], rtol=1e-7, atol=1e-7)
    assert out.loc[central, ["r_host", "v_r", "v_t"]].isna().all().all()
    positions = out[POSITION].to_numpy()
    assert ((positions >= 0) & (positions < BOX)).all()
    np.testing.assert_array_equal(satellites["halo_id"],
                                  PAINTED_ID_BASE + np.arange(len(satellites)))
    # grouped by host: a central row, then its satellites
    starts = np.flatnonzero(central)
    np.testing.assert_array_equal(np.diff(np.r_[starts, len(out)]) - 1, drawn)
    assert "sSFR" not in out  # not painted: a satellite must not inherit its central's
    Catalog(out, copy.deepcopy(universe.meta)).validate()


def test_paint_seeds(composite, hosts):
    first = composite.paint(hosts, 11, box=BOX)
    pd.testing.assert_frame_equal(first, composite.paint(hosts, 11, box=BOX))
    other = composite.paint(hosts, 12, box=BOX)
    assert len(other) != len(first) or not np.array_equal(other["smass"], first["smass"])


def test_mean_count_is_the_occupation_models(composite, parts, hosts):
    """Total satellites on 15,000 hosts (the 1,500 ten times) within 5 sigma of the
    occupation model's summed mean (Poisson: variance = mean)."""
    many = pd.concat([hosts] * 10, ignore_index=True)
    many["halo_id"] = np.arange(len(many))
    out = composite.paint(many, 21, box=BOX)
    mean = parts["occupation"].mean(many)
    variance = parts["occupation"].variance(many)
    assert abs((~out["is_central"]).sum() - mean.sum()) < 5 * np.sqrt(variance.sum())


def test_central_occupation_hook(composite, parts, hosts):
    """An occupation with a central_occupation of 0 below the median mass and 1 above:
    the light hosts lose their central and get no satellites."""
    occupation = copy.copy(parts["occupation"])
    median = float(hosts["M_h"].median())
    occupation.central_occupation = lambda table: (table["M_h"].to_numpy() > median) * 1.0
    model = CompositeModel(parts["central"], occupation, parts["profile"], parts["satellite"])
    out = model.paint(hosts, 3, box=BOX)
    assert (out["M_h"] > median).all()
    assert out["is_central"].sum() == (hosts["M_h"] > median).sum()


def test_save_load_round_trip(composite, hosts, tmp_path):
    composite.save(tmp_path / "model")
    loaded = load_any(tmp_path / "model")
    assert isinstance(loaded, CompositeModel)
    pd.testing.assert_frame_equal(loaded.paint(hosts, 4, box=BOX),
                                  composite.paint(hosts, 4, box=BOX))
    assert load_any(tmp_path / "model" / "profile").family == "flow"
    (tmp_path / "model" / "satellite" / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="checksum"):
        CompositeModel.load(tmp_path / "model")


# ----------------------------------------------------------------------------- sub-halo path
def test_paint_subhalos_picks_the_largest_vmax_peak(parts, universe):
    """With a satellite model on M_peak: every satellite is an input sub-halo (own id,
    position), the largest Vmax_peak of its host first; a host's shortfall is counted;
    the frame is a valid catalog."""
    model = CompositeModel(parts["central"], parts["occupation"], parts["profile"],
                           parts["subhalo_satellite"])
    table = universe.table
    out = model.paint_subhalos(table, 7, box=BOX)
    counts = out.attrs["painting"]
    satellites = out[~out["is_central"]]
    assert counts["from_profile"] == 0 and counts["from_subhalos"] == len(satellites) > 0
    source = table.set_index("halo_id")
    np.testing.assert_array_equal(satellites[POSITION].to_numpy(),
                                  source.loc[satellites["halo_id"], POSITION].to_numpy())
    subhalos = table[~table["is_central"]]
    chosen = satellites.groupby("host_id")["Vmax_peak"].min()
    unchosen = subhalos[~subhalos["halo_id"].isin(satellites["halo_id"])]
    lost = unchosen.groupby("host_id")["Vmax_peak"].max().reindex(chosen.index).dropna()
    assert (lost < chosen.reindex(lost.index)).all()
    drawn = parts["occupation"].sample(universe.centrals().table, 1,
                                       painting_seeds(7)["occupation"])[0, :, 0]
    available = subhalos["host_id"].value_counts().reindex(
        universe.centrals().table["halo_id"], fill_value=0).to_numpy()
    assert counts["unpainted"] == np.maximum(drawn - available, 0).sum()
    assert counts["subhalos_dropped"] == len(subhalos) - len(satellites)
    Catalog(out, copy.deepcopy(universe.meta)).validate()
    with pytest.raises(ModelError, match="needs sub-halo columns M_peak"):
        model.paint(universe.centrals().table, 1)


def test_paint_subhalos_fills_the_shortfall_with_the_profile(composite, universe):
    out = composite.paint_subhalos(universe.table, 8, box=BOX)
    counts = out.attrs["painting"]
    painted = out["halo_id"] >= PAINTED_ID_BASE
    assert counts["from_profile"] == painted.sum() > 0 and counts["unpainted"] == 0
    assert "M_peak" not in out  # the satellite model does not use it; painted have none
    Catalog(out, copy.deepcopy(universe.meta)).validate()


# ----------------------------------------------------------------------------- mock
def test_make_mock_realisations(composite, universe, parts):
    hosts = universe.centrals()
    mock = make_mock(composite, hosts, samples=3, seed=2)
    mock.validate()
    assert sorted(mock.table["realization"].unique()) == [0, 1, 2]
    for _, part in mock.table.groupby("realization"):
        assert part["halo_id"].is_unique
        assert part["is_central"].sum() == len(hosts)
    assert mock.meta.extra["mock"]["family"] == "composite"
    needy = CompositeModel(parts["central"], parts["occupation"], parts["profile"],
                           parts["subhalo_satellite"])
    with pytest.raises(ModelError, match="needs sub-halo columns M_peak; give a catalog"):
        make_mock(needy, hosts)
    with pytest.raises(ModelError, match="--halo-only"):
        make_mock(needy, universe, halo_only=True)
    assert make_mock(needy, universe).meta.extra["mock"]["painting"]["from_profile"] == 0
    halo_only = make_mock(composite, universe, halo_only=True, seed=4)
    pd.testing.assert_frame_equal(halo_only.table, make_mock(composite, hosts, seed=4).table)


# ----------------------------------------------------------------------------- command line
def test_cli_compose_sample_info(parts, universe, tmp_path):
    for role in ("central", "occupation", "profile", "satellite", "subhalo_satellite"):
        parts[role].save(tmp_path / role)
    hosts_path = tmp_path / "hosts.parquet"
    write_catalog(universe.centrals(), hosts_path)
    composed = runner.invoke(app, [
        "compose", "--central", str(tmp_path / "central"), "--occupation",
        str(tmp_path / "occupation"), "--profile", str(tmp_path / "profile"),
        "--satellite", str(tmp_path / "satellite"), "--out", str(tmp_path / "model")])
    assert composed.exit_code == 0, composed.output
    assert "r_host, v_r, v_t" in composed.stdout and "occupation" in composed.stdout
    sampled = runner.invoke(app, ["sample", "--model", str(tmp_path / "model"), "--catalog",
                                  str(hosts_path), "--out", str(tmp_path / "mock.parquet")])
    assert sampled.exit_code == 0, sampled.output
    mock = read_catalog(tmp_path / "mock.parquet")
    assert mock.has_satellites and (~mock.central_mask()).sum() > 0
    info = runner.invoke(app, ["info", str(tmp_path / "mock.parquet")])
    assert info.exit_code == 0 and "satellites" in info.stdout


def _bad(args, written):
    result = runner.invoke(app, [str(a) for a in args])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert not written.exists()
    return lines[0]


def test_cli_bad_input(parts, universe, tmp_path):
    for role in ("central", "occupation", "profile", "satellite", "subhalo_satellite"):
        parts[role].save(tmp_path / role)
    compose = ["compose", "--central", tmp_path / "central", "--occupation",
               tmp_path / "occupation", "--profile", tmp_path / "profile", "--satellite",
               tmp_path / "satellite", "--out", tmp_path / "model"]
    wrong_profile = [*compose]
    wrong_profile[6] = tmp_path / "satellite"
    assert "profile component" in _bad(wrong_profile, tmp_path / "model")
    count_central = [*compose]
    count_central[2] = tmp_path / "occupation"
    assert "central component" in _bad(count_central, tmp_path / "model")
    needy = [*compose]
    needy[8] = tmp_path / "subhalo_satellite"
    assert runner.invoke(app, [str(a) for a in needy]).exit_code == 0
    hosts_path = tmp_path / "hosts.parquet"
    write_catalog(universe.centrals(), hosts_path)
    line = _bad(["sample", "--model", tmp_path / "model", "--catalog", hosts_path, "--out",
                 tmp_path / "mock.parquet"], tmp_path / "mock.parquet")
    assert "needs sub-halo columns M_peak" in line
    plain = _bad(["sample", "--model", tmp_path / "central", "--catalog", hosts_path,
                  "--halo-only", "--out", tmp_path / "mock.parquet"], tmp_path / "mock.parquet")
    assert "--halo-only is for a composite model" in plain
