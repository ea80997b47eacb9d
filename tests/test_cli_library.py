"""The library functions that used to be logic inside the command line (issue 17):
ingest's options, which model ``truth`` names, SMOGN's provenance on a catalog and the
suites a cosmology model is scored on."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from galhalo.augment.catalogs import smogn_catalog
from galhalo.cosmo.suite_runs import HELD_OUT, suites_to_score
from galhalo.errors import CatalogError, CosmoError, EvaluationError, ModelError, SmognError
from galhalo.evaluate.reference import TRUTH_SPEC, resolve_model
from galhalo.ingest.options import ingest_options, parse_column_map
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import UniverseConfig, simulate


@pytest.fixture(scope="module")
def catalog():
    return simulate(config=UniverseConfig(n_halos=400, box=50.0, seed=5))


# ----------------------------------------------------------------------------- ingest
def test_column_map_parses_pairs_and_names_bad_items():
    assert parse_column_map(["stellar_mass=smass", " mhalo = M_h"]) == {
        "stellar_mass": "smass", "mhalo": "M_h"}
    with pytest.raises(CatalogError, match=r"SOURCE=TARGET, got \['smass', 'x='\]"):
        parse_column_map(["a=b", "smass", "x="])
    with pytest.raises(CatalogError, match="renames a more than once"):
        parse_column_map(["a=b", "a=c"])


def test_ingest_options_drop_unset_values_and_build_the_tree_reader(tmp_path):
    assert ingest_options() == {}
    options = ingest_options(box=100.0, redshift=0.5, mapping=["a=b"], sfr_floor=-12.0)
    assert options == {"box_size": 100.0, "redshift": 0.5, "sfr_floor": -12.0,
                       "mapping": {"a": "b"}}
    trees = ingest_options(sublink=tmp_path / "trees",
                           snapshot_redshifts=tmp_path / "z.csv")["sublink"]
    assert Path(trees.paths) == tmp_path / "trees"
    assert Path(trees.snapshot_redshifts) == tmp_path / "z.csv"
    with pytest.raises(CatalogError, match="--sublink needs --snapshot-redshifts"):
        ingest_options(sublink=tmp_path / "trees")


# ----------------------------------------------------------------------------- truth
def test_truth_resolves_to_the_catalogs_own_truth_model(catalog):
    model, source = resolve_model(TRUTH_SPEC, catalog)
    assert source == "the catalog's truth model"
    truth = TruthModel.from_dict(catalog.meta.truth)
    table = catalog.table.iloc[:50]
    np.testing.assert_allclose(model.log_prob(table, table), truth.log_prob(table, table))
    same, described = resolve_model(truth, catalog)  # a model object passes through
    assert described == type(truth).__name__
    np.testing.assert_allclose(same.log_prob(table, table), truth.log_prob(table, table))


def test_truth_without_a_truth_model_and_bad_directories_are_bad_input(catalog, tmp_path):
    import copy

    meta = copy.deepcopy(catalog.meta)
    meta.truth = None
    bare = type(catalog)(catalog.table, meta)
    with pytest.raises(EvaluationError, match="carries none"):
        resolve_model("truth", bare)
    with pytest.raises(ModelError):
        resolve_model(str(tmp_path), catalog)


# ----------------------------------------------------------------------------- smogn
def test_smogn_catalog_records_its_provenance(catalog):
    features = ["M_h", "C_h", "smass"]
    augmented, result = smogn_catalog(catalog, "sSFR", features=features, k=5, seed=3,
                                      source="in.parquet")
    meta = augmented.meta
    assert meta.truth is None and catalog.meta.truth is not None  # input untouched
    assert meta.source == f"smogn of {catalog.meta.source or 'in.parquet'}"
    record = meta.extra["smogn"]
    assert record["target"] == "sSFR" and record["features"] == features
    assert (record["k"], record["seed"], record["mode"]) == (5, 3, "balance")
    assert record["synthetic_rows"] == int(result.synthetic.sum()) > 0
    np.testing.assert_array_equal(record["control_points"], result.control_points)
    assert list(augmented.table.columns) == [c for c in catalog.table.columns
                                             if c in {"sSFR", *features}]
    assert len(augmented) == len(result.table)


def test_smogn_catalog_default_features_and_refusals(catalog):
    """Default features: every halo and galaxy column but the target (ids, positions and
    velocities are not interpolated)."""
    augmented, _ = smogn_catalog(catalog, "sSFR")
    assert augmented.meta.extra["smogn"]["features"] == [
        "M_h", "C_h", "S_h", "z_h", "Delta3_h", "smass", "color", "radius"]
    with pytest.raises(SmognError, match="halo_id cannot be interpolated"):
        smogn_catalog(catalog, "sSFR", features=["halo_id", "M_h"])


# ----------------------------------------------------------------------------- cosmo
def test_suites_to_score_refuses_what_it_cannot_score(tmp_path):
    untested = types.SimpleNamespace(metrics={"suite": str(tmp_path)})
    with pytest.raises(CosmoError, match="nothing to score"):
        suites_to_score(untested)
    with pytest.raises(CosmoError, match="gnn holds no held-out universes"):
        suites_to_score(untested, held_out=True, model_name="gnn")
    moved = types.SimpleNamespace(metrics={"suite": str(tmp_path / "gone"),
                                           "held_out": ["LH_1"]})
    with pytest.raises(CosmoError, match="gone recorded in gnn is not there"):
        suites_to_score(moved, held_out=True, model_name="gnn")
    assert HELD_OUT == "held out"
