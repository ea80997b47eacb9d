"""Data augmentation for imbalanced regression targets (SMOGN).

Import from the submodule: ``from galhalo.augment.smogn import smogn, augment, relevance``
(the package does not re-export ``smogn``, which would hide the submodule of that name).
"""
