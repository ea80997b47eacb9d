"""Evaluation of mock catalogs against a reference: distributions, calibration, feature
importance, scenarios (``run.evaluate_model`` ties them together), and the catalog-level
clustering comparison (populations, the assembly-bias shuffle, stochasticity) built on
the array estimators of :mod:`galhalo.clustering`. Import the submodules."""
