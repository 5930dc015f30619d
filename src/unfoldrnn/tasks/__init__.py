"""Tasks: a model inside its inputs, head and loss, behind the interface of ``tasks.base``."""

from ..dictionaries import dct_dictionary
from .base import Task
from .classification import ClassificationTask, confusion_matrix
from .language_model import LanguageModelTask, batchify, binary_codes
from .reconstruction import ReconstructionTask, measurements

TASKS: dict[str, type[Task]] = {
    "reconstruction": ReconstructionTask,
    "classification": ClassificationTask,
    "language_model": LanguageModelTask,
}

__all__ = ["TASKS", "Task", "ReconstructionTask", "ClassificationTask", "LanguageModelTask",
           "batchify", "binary_codes", "confusion_matrix", "dct_dictionary", "measurements"]
