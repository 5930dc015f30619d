"""Run configuration: one dataclass, read from TOML/JSON files and command-line flags.

Keys left at ``None`` take their task's default (``task_defaults``): paper 001's setting for
reconstruction, paper 000's for classification. Keys that belong to one task (``TASK_KEYS``)
are refused for another. Every value is type-checked with the key's name in the message.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .data import CLASS_SETS, FOLDS
from .data.own import own_source
from .models import MODELS
from .tasks import TASKS as TASK_CLASSES


class ConfigError(ValueError):
    """A configuration names an unknown key, model or an invalid value."""


TASKS = tuple(TASK_CLASSES)
PRESETS = ("unfoldrnn", "paper")
LR_SCHEDULES = ("plateau", "step")
TASK_KEYS = {name: task.keys for name, task in TASK_CLASSES.items()}  # one task's own keys
SAMPLERS = ("random", "tpe")  # of the (lambda1, lambda2) search (``lambda_search``)
PRUNERS = ("none", "median")


def task_defaults(task: str, model: str) -> dict:
    """The settings of ``task`` for the keys a config leaves at None (``Task.defaults``)."""
    return TASK_CLASSES[task].defaults(model)


@dataclass
class TrainConfig:
    """One training run. Defaults (None: the task's, see ``task_defaults``) are the papers'."""

    task: str = "reconstruction"  # reconstruction | classification | language_model
    # unfoldrnn: this library's defaults; paper: the papers' exact settings (classification:
    # the unfolding models' initialisation of paper 000 Sec. 4.1, with c = 1; the other
    # tasks use their papers' settings under both presets)
    preset: str = "unfoldrnn"
    model: str = "reweighted"
    hidden_size: int | None = None  # h (reconstruction 1024, classification 100)
    num_layers: int = 3  # d
    # reconstruction: "embedded" (MNIST test digits shipped in the package), a folder with the
    # official MNIST idx files, the official mnist_test_seq.npy, or your own sequences as any
    # other .npy ([N, T, H, W] or [N, T, n0] in [0, 1]); classification: a Speech Commands
    # folder, your own .npz arrays or a folder of class_name/*.wav (``data.own``);
    # language_model: a folder with WikiText-2 or Penn Treebank
    data: str | None = None
    data_seed: int = 0
    # reconstruction (paper 001)
    rate: float | None = None  # CS rate n / n0
    num_sequences: int | None = None
    split: tuple[int, int, int] | None = None  # default 80 / 10 / 10 of num_sequences
    frame_size: int | None = None
    signal_size: int | None = None  # n0 of your own sequences (read from the data)
    measurement: str | None = None  # a .npy of your own sensing matrix A [n, n0], kept fixed
    # classification (paper 000)
    classes: str | None = None  # google12 | google30 (Speech Commands folders)
    num_filters: int | None = None  # features per step: log Mel filters; arrays: from the data
    num_classes: int | None = None  # read from the data (Speech Commands: the class set's)
    class_names: list | None = None  # your own data's, read from it (a list of strings)
    # Speech Commands: read each clip's state at its last real frame, not after the zero
    # padding that brings clips under 1 s to 99 frames (default false: the papers' reading)
    clip_lengths: bool | None = None
    # the canonical Google-12 test set: which tenth of its speakers is the test split (0-9;
    # the validation split is the tenth before it; 0: the split every table uses), for
    # cross-validation over speakers
    speaker_fold: int | None = None
    # language model (paper 000)
    embedding_size: int | None = None  # n = n0 of the unfolding models (A = I)
    bptt: int | None = None  # words per window of truncated back-propagation through time
    adaptive_softmax: bool | None = None  # nn.AdaptiveLogSoftmaxWithLoss instead of softmax
    max_train_tokens: int | None = None  # train on the stream's first tokens only (0: all)
    max_eval_tokens: int | None = None  # validate and test on the first tokens only (0: all)
    input_encoding: str | None = None  # embedding (learned) | binary (code of the word's rank)
    # carry the state from window to window, detached (default: yes, not for unfolding models)
    carry_state: bool | None = None
    vocab_size: int | None = None  # read from the corpus (its vocabulary: RUN_DIR/vocabulary.txt)
    # optimisation
    epochs: int = 200
    batch_size: int | None = None
    lr: float | None = None
    clip: float = 0.25  # gradient l2-norm clip
    lr_schedule: str | None = None  # plateau (on validation loss) | step (every lr_step epochs)
    lr_factor: float = 0.3
    lr_patience: int = 5
    lr_step: int = 50
    early_stopping: int = 0  # stop after this many epochs without improvement (0: never)
    seed: int = 0
    device: str = "auto"
    # unfolding models: (lambda1, lambda2); 0 keeps the model's default
    lambda1: float = 0.0
    lambda2: float = 0.0
    lambda_search_trials: int = 0  # Optuna trials in [1e-5, 3]^2 scored on validation loss
    lambda_search_steps: int = 20  # training steps per trial
    lambda_search_sampler: str = "random"  # random (paper 001 Sec. 4) | tpe
    lambda_search_pruner: str = "none"  # none | median (stop trials behind the median)
    # "auto": the C++ time loops on the CPU (torch.compile'd prox on a GPU), falling back to
    # Python; true: torch.compile the prox kernels; false: eager Python loops
    compile_prox: bool | str = "auto"
    cuda_graphs: bool = False  # replay forward + backward as CUDA graphs (CUDA devices only)
    tensorboard: bool = False  # per-epoch scalars and figures in RUN_DIR/tensorboard
    # extra keyword arguments of the model's constructor, e.g. {nonlinearity = "relu",
    # bias = false} for a ReLU rnn, {u_rank = 27} for fastgrnn
    model_options: dict | None = None
    # classification: Gaussian noise of this standard deviation (in normalised feature
    # units) added to the training inputs (paper 003 Sec. 3.3, Thm 3)
    input_noise: float = 0.0
    # bounds (paper 000 Sec. 4.4): loss += bound_lambda * sum_l ||W_l||_{1,inf}
    # (+ bound_lambda_u * sum_l ||U_l||_{1,inf}, the bound's betas; not in the paper)
    bound_lambda: float = 0.0
    bound_lambda_u: float = 0.0
    track_bound: bool | None = None  # log the Rademacher bound of unfolding models per epoch

    def __post_init__(self):
        _check_types(self)
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; choose one of: {', '.join(TASKS)}")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose one of: "
                              f"{', '.join(MODELS)}")
        for task, keys in TASK_KEYS.items():
            for key in keys:
                if task != self.task and getattr(self, key) is not None:
                    raise ConfigError(f"{key} applies to task {task} only, not {self.task}")
        if self.model == "convrnn":  # h_t in R^d, d the feature size (paper 002 Appendix D)
            if self.task != "classification":
                raise ConfigError("convrnn is a classifier of feature sequences (paper 002 "
                                  "Appendix D): task classification only")
            if self.hidden_size is None:
                self.hidden_size = self.num_filters or task_defaults(
                    self.task, self.model)["num_filters"]
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of: "
                              f"{', '.join(PRESETS)}")
        defaults = task_defaults(self.task, self.model)
        if own_data(self):  # sizes and splits come from the data (``Task.data_settings``)
            self._check_own_data()
            for key in ("classes", "num_sequences", "frame_size"):
                defaults.pop(key, None)
            if str(self.data).endswith(".npz"):
                defaults.pop("num_filters")
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.task == "reconstruction":
            self._check_reconstruction()
        elif self.data is None:
            what = "a Speech Commands folder" if self.task == "classification" else \
                "a WikiText-2 or Penn Treebank folder"
            raise ConfigError(f"{self.task} needs data: {what} (--data)")
        if self.classes is not None:
            if self.classes not in CLASS_SETS:
                raise ConfigError(f"unknown class set {self.classes!r}; choose one of: "
                                  f"{', '.join(CLASS_SETS)}")
        if self.speaker_fold is not None and not 0 <= self.speaker_fold < FOLDS:
            raise ConfigError(f"speaker_fold must be from 0 to {FOLDS - 1}, got "
                              f"{self.speaker_fold!r}")
        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "lr_step",
                     "num_filters", "embedding_size", "bptt", "num_classes", "signal_size",
                     "vocab_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "clip", "lr_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
        if self.input_noise and self.task != "classification":
            raise ConfigError(f"input_noise applies to task classification only, not "
                              f"{self.task}")
        if self.class_names is not None and not all(isinstance(c, str) for c in self.class_names):
            raise ConfigError("class_names must be a list of strings")
        if self.model_options is not None and not all(isinstance(k, str)
                                                      for k in self.model_options):
            raise ConfigError("model_options must be a table of keyword arguments")
        for name in ("lambda1", "lambda2", "bound_lambda", "bound_lambda_u",
                     "lambda_search_trials", "early_stopping", "lr_patience",
                     "max_train_tokens", "max_eval_tokens", "input_noise"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
        if self.compile_prox not in (True, False, "auto"):
            raise ConfigError(f"compile_prox must be true, false or 'auto', got "
                              f"{self.compile_prox!r}")
        if self.input_encoding not in (None, "embedding", "binary"):
            raise ConfigError(f"input_encoding must be 'embedding' or 'binary', got "
                              f"{self.input_encoding!r}")
        for name, allowed in (("lambda_search_sampler", SAMPLERS),
                              ("lambda_search_pruner", PRUNERS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got "
                                  f"{getattr(self, name)!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                              f"got {self.lr_schedule!r}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")

    def _check_own_data(self):
        what = "your own .npz arrays" if self.task == "classification" else \
            "your own sequences (.npy)"
        for key in ("classes", "frame_size", "num_sequences"):
            if getattr(self, key) is not None:
                raise ConfigError(f"{key} does not apply to {what}: the data decides it")

    def _check_reconstruction(self):
        if not 0 < self.rate <= 1:
            raise ConfigError(f"rate must lie in (0, 1], got {self.rate!r}")
        if self.measurement is not None and not own_data(self):
            raise ConfigError("measurement applies to your own sequences (--data FILE.npy)")
        if own_data(self):  # the split: 80 / 10 / 10 of the file's sequences, at load time
            return
        for name in ("num_sequences", "frame_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive integer, got "
                                  f"{getattr(self, name)!r}")
        if self.split is None:  # 80 / 10 / 10
            tenth = self.num_sequences // 10
            self.split = (self.num_sequences - 2 * tenth, tenth, tenth)
        if len(self.split) != 3 or sum(self.split) > self.num_sequences or min(self.split) <= 0:
            raise ConfigError(f"split {list(self.split)} (train, valid, test) does not fit "
                              f"{self.num_sequences} sequences")

    def to_dict(self) -> dict:
        """The keys that apply to this task (another task's keys are left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"a config must be a table of keys, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}; "
                              f"valid keys: {', '.join(sorted(known))}")
        return cls(**values)


# what a run's config.json records beside its settings (``runs``): the defaults its model
# took from the code, and where its data lay seen from the run folder
INITIAL_SETTINGS = "initial_settings"
DATA_FROM_RUN = "data_from_run"
RECORDS = (INITIAL_SETTINGS, DATA_FROM_RUN)


def stored_run_config(values: dict) -> dict:
    """A run folder's stored config, as the run was made, without its ``RECORDS``: a run
    written before the ``preset`` key existed used the papers' settings (preset "paper")."""
    if not isinstance(values, dict):
        return values
    return {"preset": "paper", **{k: v for k, v in values.items() if k not in RECORDS}}


def own_data(config: TrainConfig) -> bool:
    """Is ``config.data`` the user's own arrays or audio folder (``data.own``), rather than
    one of the papers' datasets?"""
    return own_source(config.task, config.data)


def _kinds(hint) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(k for arg in typing.get_args(hint) for k in _kinds(arg))
    origin = typing.get_origin(hint)
    return (origin,) if origin is not None else (hint,)


def _check_types(config: TrainConfig) -> None:
    """Every value has its key's type (ints are floats too; lists are tuples)."""
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(config):
        value = getattr(config, f.name)
        kinds = _kinds(hints[f.name])
        if value is None and type(None) in kinds:
            continue
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            setattr(config, f.name, value)
        if tuple in kinds and isinstance(value, list):
            value = tuple(value)
            setattr(config, f.name, value)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if ok and isinstance(value, tuple):
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds if k is not type(None))
            if tuple in kinds:
                names = "a list of integers"
            raise ConfigError(f"{f.name} must be {names}, got {value!r}")


def read_config_file(path: str | Path) -> dict:
    """Key-value pairs of a .toml or .json file (flat, the keys of TrainConfig)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config {path} is not a file")
    try:
        text = path.read_text()
        if path.suffix == ".json":
            values = json.loads(text)
        else:
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            values = tomllib.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot parse {path}: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a table of config keys, got "
                          f"{type(values).__name__}")
    for key in RECORDS:  # what a run's config.json records, not settings
        values.pop(key, None)
    return values
