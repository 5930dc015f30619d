"""The papers' experiments as data, and the runner that reproduces them."""

from .paper import (
    ALIASES,
    LABELS,
    MODELS,
    P000_TABLE1,
    P000_TABLE2,
    TABLE1,
    TABLE2,
    TABLE3,
    TABLES,
    Table,
)
from .sweep import SCALES, resolve, run_table

__all__ = ["ALIASES", "LABELS", "MODELS", "P000_TABLE1", "P000_TABLE2", "TABLE1", "TABLE2",
           "TABLE3", "TABLES", "Table", "SCALES", "resolve", "run_table"]
