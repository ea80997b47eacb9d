"""Training suites: parameter table, one universe, resumable generation, bad input."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from galhalo.catalog import read_catalog
from galhalo.files import write_json
from galhalo.sim.suites import (
    PARAMETERS,
    SuiteError,
    SuiteSettings,
    held_out_names,
    make_suite,
    parameter_table,
    read_suite,
    simulate_universe,
    stellar_mass,
)

# 32^3 particles, 10 steps: a fraction of a second per universe. The explicit cut keeps
# galaxies in every universe of the prior at this low resolution (20 particles are
# 2.6e11 - 1.3e12 Msun/h here).
SMALL = SuiteSettings(particles=32, steps=10, z_start=24.0, stellar_mass_cut=9.0)
PARAMS = {"Omega_m": 0.3, "sigma_8": 0.8, "smhm_norm": -1.6, "smhm_slope": 1.5,
          "smhm_scatter": 0.2, "selection_factor": 1.5}


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory):
    """A 3-universe suite made in one uninterrupted run (threads scheduler)."""
    out = tmp_path_factory.mktemp("suites") / "suite"
    make_suite(out, 3, SMALL, seed=5, scheduler="threads", workers=2, progress=False)
    return out


# --------------------------------------------------------------------------- one universe


def test_universe_catalog_columns_units_and_selection():
    catalog = simulate_universe(PARAMS, SMALL, seed=1)
    table = catalog.table
    for column in ("x", "y", "z", "vx", "vy", "vz", "smass", "M_h"):
        assert column in table
    assert np.all((table[["x", "y", "z"]] >= 0).to_numpy())
    assert np.all((table[["x", "y", "z"]] < SMALL.box_size).to_numpy())
    threshold = SMALL.cut + np.log10(PARAMS["selection_factor"])
    assert table["smass"].min() >= threshold
    # halos hold >= 20 particles
    particle_mass = catalog.meta.extra["particle_mass"]
    assert table["M_h"].min() >= np.log10(20 * particle_mass) - 1e-12
    # peculiar velocities of group centres: tens to hundreds of km/s
    speed = np.sqrt((table[["vx", "vy", "vz"]] ** 2).sum(axis=1))
    assert 30 < speed.median() < 1000
    meta = catalog.meta
    assert meta.box_size == 25.0 and meta.redshift == 0.0 and meta.seed == 1
    assert meta.cosmology["Om0"] == 0.3 and meta.cosmology["sigma8"] == 0.8
    assert meta.truth["galaxy_model"] == "standard"


def test_same_seed_same_catalog_other_seed_differs():
    one = simulate_universe(PARAMS, SMALL, seed=3)
    two = simulate_universe(PARAMS, SMALL, seed=3)
    pd.testing.assert_frame_equal(one.table, two.table)
    assert one.meta.to_dict() == two.meta.to_dict()
    other = simulate_universe(PARAMS, SMALL, seed=4)
    assert not one.table[["x", "y", "z"]].equals(other.table[["x", "y", "z"]])


def test_alternative_model_paints_the_same_halos_differently():
    alternative = dataclasses.replace(SMALL, galaxy_model="alternative")
    standard = simulate_universe(PARAMS, SMALL, seed=2)
    other = simulate_universe(PARAMS, alternative, seed=2)
    common = np.intersect1d(standard.table["halo_id"], other.table["halo_id"])
    assert len(common) > 5
    a = standard.table.set_index("halo_id").loc[common]
    b = other.table.set_index("halo_id").loc[common]
    np.testing.assert_array_equal(a["M_h"], b["M_h"])  # same dark matter
    assert not np.allclose(a["smass"], b["smass"])  # another stellar-mass relation
    assert other.meta.truth["galaxy_model"] == "alternative"


def test_stellar_mass_relations():
    log_mass = np.linspace(10.5, 14.5, 41)
    for model in ("standard", "alternative"):
        mean = stellar_mass(model, log_mass, -1.6, 1.5, 0.2)
        assert np.all(np.diff(mean) > 0)  # monotonic in halo mass
        # normalisation: M*/M_h = 10^norm at the pivot 10^11.8
        at_pivot = stellar_mass(model, np.array([11.8]), -1.6, 1.5, 0.2)[0]
        assert at_pivot == pytest.approx(11.8 - 1.6, abs=1e-9)
        # low-mass slope of M*/M_h approaches smhm_slope
        low = stellar_mass(model, np.array([8.0, 8.5]), -1.6, 1.5, 0.2)
        assert (low[1] - low[0]) / 0.5 - 1.0 == pytest.approx(1.5, abs=0.05)
    # scatter: 100,000 draws have the requested standard deviation within 4 sigma
    # (sigma of a sample sd ~ sd / sqrt(2 n))
    rng = np.random.default_rng(0)
    draws = stellar_mass("standard", np.full(100_000, 12.0), -1.6, 1.5, 0.2, rng)
    assert np.std(draws) == pytest.approx(0.2, abs=4 * 0.2 / np.sqrt(2e5))
    wide = stellar_mass("alternative", np.full(100_000, 11.0), -1.6, 1.5, 0.2, rng)
    narrow = stellar_mass("alternative", np.full(100_000, 13.0), -1.6, 1.5, 0.2, rng)
    assert np.std(wide) > 1.5 * np.std(narrow)  # mass-dependent scatter


# --------------------------------------------------------------------------- the table


def test_parameter_table_is_a_latin_hypercube_inside_the_priors():
    table = parameter_table(20, SuiteSettings(), seed=9)
    assert list(table.index) == [f"LH_{i}" for i in range(20)]
    for name, (low, high) in SuiteSettings().priors.items():
        values = table[name].to_numpy()
        assert np.all((values >= low) & (values <= high))
        # one sample per stratum of width (high - low) / 20
        strata = np.floor((values - low) / (high - low) * 20).clip(0, 19)
        assert sorted(strata) == list(range(20))
    assert table["seed"].nunique() == 20
    pd.testing.assert_frame_equal(table, parameter_table(20, SuiteSettings(), seed=9))
    assert not table.equals(parameter_table(20, SuiteSettings(), seed=10))


def test_suite_layout_and_reading(small_suite):
    lines = (small_suite / "parameters.txt").read_text().splitlines()
    assert lines[0] == ("#Name Omega_m sigma_8 smhm_norm smhm_slope smhm_scatter "
                        "selection_factor seed")
    assert [line.split()[0] for line in lines[1:]] == ["LH_0", "LH_1", "LH_2"]
    suite = read_suite(small_suite)
    assert len(suite) == 3 and suite.names == ["LH_0", "LH_1", "LH_2"]
    assert list(suite.parameters.columns) == list(PARAMETERS)
    assert suite.settings == SMALL or suite.settings.to_dict() == SMALL.to_dict()
    assert suite.missing == []
    info = suite.info
    assert info["seed"] == 5 and info["universes"] == 3 and "galhalo_version" in info
    for name in suite.names:
        catalog = suite.catalog(name)
        row = suite.parameters.loc[name]
        assert catalog.meta.cosmology["Om0"] == pytest.approx(row["Omega_m"])
        assert catalog.meta.cosmology["sigma8"] == pytest.approx(row["sigma_8"])
        assert catalog.meta.seed == suite.parameters.at[name, "seed"]
        threshold = suite.settings.cut + np.log10(row["selection_factor"])
        assert catalog.table["smass"].min() >= threshold
        # the file is exactly simulate_universe of its table row
        values = {key: float(suite.parameters.at[name, key]) for key in PARAMETERS[:-1]}
        again = simulate_universe(values, suite.settings,
                                  int(suite.parameters.at[name, "seed"]))
        pd.testing.assert_frame_equal(catalog.table, again.table)
    with pytest.raises(SuiteError, match="no universe"):
        suite.catalog("LH_7")


def test_held_out_names_partition_the_suite_reproducibly(small_suite):
    names = [f"LH_{i}" for i in range(50)]
    kept, held = held_out_names(names, 0.2, seed=4)
    assert len(held) == 10 and sorted(kept + held) == sorted(names)
    assert kept == [n for n in names if n in set(kept)]          # suite order kept
    assert held_out_names(names, 0.2, seed=4) == (kept, held)
    assert held_out_names(names, 0.2, seed=5)[1] != held
    assert len(held_out_names(names[:3], 0.01)[1]) == 1          # at least one
    for fraction in (0.0, 1.0):
        with pytest.raises(SuiteError, match="fraction"):
            held_out_names(names, fraction)
    with pytest.raises(SuiteError, match="none to train"):
        held_out_names(names[:2], 0.9)
    suite = read_suite(small_suite)
    train, test = suite.split(0.34, seed=1)
    assert len(test) == 1 and sorted(train.names + test.names) == suite.names
    assert test.parameters.equals(suite.parameters.loc[test.names])


def test_resumed_suite_equals_uninterrupted(small_suite, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(small_suite, resumed)
    (resumed / "LH_1.parquet").unlink()
    (resumed / "LH_2.parquet").unlink()
    # what a killed writer leaves: a hidden, half-written temporary
    (resumed / ".LH_2.0123456789ab.tmp.parquet").write_bytes(b"PAR1 half")
    partial = read_suite(resumed)
    assert partial.missing == ["LH_1", "LH_2"]
    # a suite still being generated can be used as far as it goes
    assert partial.complete().names == ["LH_0"] and partial.complete().missing == []
    assert partial.subset(["LH_2", "LH_0"]).parameters.index.tolist() == ["LH_2", "LH_0"]
    with pytest.raises(SuiteError, match="no universes"):
        partial.subset(["LH_9"])
    untouched = (resumed / "LH_0.parquet").stat().st_mtime_ns
    make_suite(resumed, 3, SMALL, seed=5, scheduler="threads", workers=1, progress=False)
    assert (resumed / "LH_0.parquet").stat().st_mtime_ns == untouched  # skipped
    assert not list(resumed.glob(".LH_*"))
    for name in ("LH_0", "LH_1", "LH_2", "parameters"):
        suffix = ".txt" if name == "parameters" else ".parquet"
        assert (resumed / f"{name}{suffix}").read_bytes() == \
            (small_suite / f"{name}{suffix}").read_bytes(), name


def test_progress_callback_counts_skipped(small_suite):
    seen = []
    make_suite(small_suite, 3, SMALL, seed=5, scheduler="threads", progress=seen.append)
    assert len(seen) == 1 and seen[0].done == seen[0].total == seen[0].skipped == 3


@pytest.mark.slow
def test_local_cluster_gives_the_same_suite(small_suite, tmp_path):
    out = make_suite(tmp_path / "dask", 3, SMALL, seed=5, scheduler="local", workers=2,
                     progress=False)
    for name in ("LH_0", "LH_1", "LH_2"):
        assert (out / f"{name}.parquet").read_bytes() == \
            (small_suite / f"{name}.parquet").read_bytes()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("options", "match"), [
    ({"particles": 48}, "power of two"),
    ({"particles": 8}, "power of two"),
    ({"box_size": 0.0}, "box_size"),
    ({"box_size": -5.0}, "box_size"),
    ({"galaxy_model": "behroozi"}, "unknown galaxy model"),
    ({"mesh": 40}, "mesh"),
    ({"omega_m_range": (0.5, 0.1)}, "omega_m_range"),
    ({"redshift": 1.0}, "redshift"),
])
def test_bad_settings(options, match):
    with pytest.raises(SuiteError, match=match):
        SuiteSettings(**options)
    assert issubclass(SuiteError, ValueError)


def test_bad_parameters():
    with pytest.raises(SuiteError, match=r"Omega_m = 0\.7 is outside"):
        simulate_universe({**PARAMS, "Omega_m": 0.7}, SMALL, seed=1)
    with pytest.raises(SuiteError, match=r"selection_factor = 2\.5"):
        simulate_universe({**PARAMS, "selection_factor": 2.5}, SMALL, seed=1)
    with pytest.raises(SuiteError, match="lack"):
        simulate_universe({"Omega_m": 0.3}, SMALL, seed=1)
    with pytest.raises(SuiteError, match="finite"):
        simulate_universe({**PARAMS, "sigma_8": float("nan")}, SMALL, seed=1)
    with pytest.raises(SuiteError, match="seed"):
        simulate_universe(PARAMS, SMALL, seed=-1)


def test_directory_with_other_settings_is_refused(small_suite, tmp_path):
    with pytest.raises(SuiteError, match="other settings"):
        make_suite(small_suite, 3, dataclasses.replace(SMALL, steps=11), seed=5,
                   scheduler="threads", progress=False)
    with pytest.raises(SuiteError, match="other settings"):
        make_suite(small_suite, 4, SMALL, seed=5, scheduler="threads", progress=False)
    with pytest.raises(SuiteError, match="other settings"):
        make_suite(small_suite, 3, SMALL, seed=6, scheduler="threads", progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    write_json(broken / "suite.json", {"format": "something else"})
    with pytest.raises(SuiteError, match="not a readable suite settings"):
        make_suite(broken, 3, SMALL, seed=5, scheduler="threads", progress=False)
    with pytest.raises(SuiteError, match="not a suite directory"):
        read_suite(tmp_path)
    with pytest.raises(SuiteError, match="universes"):
        make_suite(tmp_path / "x", 0, SMALL, scheduler="threads", progress=False)
    with pytest.raises(SuiteError, match="scheduler"):
        make_suite(tmp_path / "x", 1, SMALL, scheduler="processes", progress=False)
    with pytest.raises(SuiteError, match="does not exist"):
        make_suite(tmp_path / "no" / "such", 1, SMALL, scheduler="threads", progress=False)


def test_catalog_files_are_galhalo_catalogs(small_suite):
    catalog = read_catalog(small_suite / "LH_0.parquet", required=("x", "smass", "M_h"))
    assert catalog.meta.box_size == 25.0
