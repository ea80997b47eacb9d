"""Shared test setup: test helpers import from this directory; figures never need a screen."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent))

# Small networks on small batches train faster on one thread than on two.
import torch

torch.set_num_threads(1)
