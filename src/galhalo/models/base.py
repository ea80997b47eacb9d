"""The conditional-density interface shared by every model family, and its registry.

This module gathers, for the families and for users, what used to live here in one
file (every name stays importable from ``galhalo.models.base``):

* ``models/interface.py``: :class:`ConditionalModel`, :class:`Conditioned`, the input
  checks (``column_matrix``, ``check_columns``) and the row minimums (``split_rows``);
* ``models/scaled.py``: :class:`ScaledModel` (scalers, dequantisation, the lattice
  rule over discrete-target cells);
* ``models/neural.py``: :class:`NeuralModel` (the torch families);
* ``models/store.py``: the one model-directory store;
* ``models/registry.py``: ``register``, ``model_family``, ``load_model`` and the
  family table (the families are imported by name, so nothing here imports a family).
"""

from ..errors import ModelError
from .interface import (
    MINIMUM_TRAIN_ROWS,
    MINIMUM_VALID_ROWS,
    ConditionalModel,
    Conditioned,
    Table,
    check_columns,
    column_matrix,
    rows_needed,
    split_rows,
    table_of,
    validation_size,
)
from .neural import NeuralModel
from .registry import FAMILIES, FAMILY_PATHS, load_model, model_family, register
from .scaled import LATTICE_MIN_POINTS, FitData, ScaledModel, lattice_rule, worst_case_error
from .store import (
    CONFIG_FILE,
    HISTORY_FILE,
    WEIGHTS_FILE,
    ModelFiles,
    StoredModel,
    load_weights,
    read_config,
    read_model_directory,
    read_network_config,
    restore_fit_record,
    save_network_directory,
    write_model_directory,
)

__all__ = [
    "CONFIG_FILE", "FAMILIES", "FAMILY_PATHS", "HISTORY_FILE", "LATTICE_MIN_POINTS",
    "MINIMUM_TRAIN_ROWS", "MINIMUM_VALID_ROWS", "WEIGHTS_FILE", "ConditionalModel",
    "Conditioned", "FitData", "ModelError", "ModelFiles", "NeuralModel", "ScaledModel",
    "StoredModel", "Table", "check_columns", "column_matrix", "lattice_rule", "load_model",
    "load_weights", "model_family", "read_config", "read_model_directory",
    "read_network_config", "register", "restore_fit_record", "rows_needed",
    "save_network_directory", "split_rows", "table_of", "validation_size",
    "worst_case_error", "write_model_directory",
]
