"""Delta3_h: the KD-tree overdensity in spheres against a brute-force count."""

from __future__ import annotations

import numpy as np
import pytest

from galhalo.environment import MatterTracers, overdensity_in_spheres
from galhalo.errors import CatalogError

BOX = 20.0


def brute_force(centres, tracers, box, radius, mass=None):
    """O(n m) minimum-image count of the mass within radius, over its mean."""
    mass = np.ones(len(tracers)) if mass is None else mass
    separation = centres[:, None, :] - tracers[None, :, :]
    separation -= box * np.round(separation / box)
    inside = np.sqrt((separation**2).sum(axis=-1)) <= radius
    mean = mass.sum() * 4.0 / 3.0 * np.pi * radius**3 / box**3
    return (inside * mass).sum(axis=1) / mean


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, BOX, (300, 3))
    # Put some centres and tracers against the faces so that wrapping matters.
    centres[:20, 0] = rng.uniform(0, 0.5, 20)
    tracers = rng.uniform(0, BOX, (2000, 3))
    tracers[:100, 1] = rng.uniform(BOX - 0.5, BOX, 100)
    return centres, tracers, rng.lognormal(size=2000)


def test_equal_mass_count_matches_brute_force(points):
    centres, tracers, _ = points
    np.testing.assert_allclose(overdensity_in_spheres(centres, tracers, BOX, 3.0),
                               brute_force(centres, tracers, BOX, 3.0), rtol=1e-12)


def test_mass_weighted_sum_matches_brute_force(points):
    centres, tracers, mass = points
    tracers_object = MatterTracers(tracers, BOX, mass)
    np.testing.assert_allclose(tracers_object.overdensity(centres, 3.0, chunk=37),
                               brute_force(centres, tracers, BOX, 3.0, mass), rtol=1e-12)


def test_uniform_matter_has_mean_overdensity_one(points):
    _, tracers, _ = points
    rng = np.random.default_rng(1)
    values = overdensity_in_spheres(rng.uniform(0, BOX, (2000, 3)), tracers, BOX, 3.0)
    mean_count = len(tracers) * 4 / 3 * np.pi * 27 / BOX**3
    # Poisson: each sphere's count has variance = mean; 2000 strongly overlapping spheres,
    # so bound with the single-sphere error (conservative).
    assert abs(values.mean() - 1.0) < 5 / np.sqrt(mean_count)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"radius": 10.0}, "box/2"),
    ({"radius": 0.0}, "radius"),
])
def test_bad_radius_is_refused(points, kwargs, message):
    centres, tracers, _ = points
    with pytest.raises(CatalogError, match=message):
        overdensity_in_spheres(centres, tracers, BOX, **kwargs)


def test_points_outside_the_box_or_bad_masses_are_refused(points):
    centres, tracers, mass = points
    with pytest.raises(CatalogError, match="centres"):
        overdensity_in_spheres(centres + BOX, tracers, BOX)
    with pytest.raises(CatalogError, match="tracers"):
        overdensity_in_spheres(centres, np.vstack([tracers, [[np.nan, 1, 1]]]), BOX)
    with pytest.raises(CatalogError, match="mass"):
        MatterTracers(tracers, BOX, -mass)
    with pytest.raises(CatalogError, match="no tracers"):
        MatterTracers(np.empty((0, 3)), BOX)
