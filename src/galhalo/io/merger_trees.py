"""Moved to :mod:`galhalo.ingest.merger_trees`; re-exported for old imports."""

from ..ingest.merger_trees import SubLinkTrees, formation_redshifts_sublink, half_mass_redshift

__all__ = ["SubLinkTrees", "formation_redshifts_sublink", "half_mass_redshift"]
