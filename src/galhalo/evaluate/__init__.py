"""Evaluation of mock catalogs against a reference: distributions, calibration, feature
importance, clustering. Pure functions of arrays and catalogs; import the submodules."""
