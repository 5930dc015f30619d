"""The papers' experiments as data, and the runner that reproduces them."""

from .paper import LABELS, MODELS, TABLE1, TABLE2, TABLE3, TABLES
from .sweep import SCALES, run_table

__all__ = ["LABELS", "MODELS", "TABLE1", "TABLE2", "TABLE3", "TABLES", "SCALES", "run_table"]
