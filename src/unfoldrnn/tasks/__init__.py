"""Tasks: a model inside its inputs, outputs and loss."""

from ..dictionaries import dct_dictionary
from .reconstruction import ReconstructionTask, measurements

__all__ = ["ReconstructionTask", "dct_dictionary", "measurements"]
