"""galhalo: learn the stochastic galaxy-halo connection, and score it against a known truth."""

__version__ = "0.1.0"
