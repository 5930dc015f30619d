"""What the commands share: the train flags, --set, the config from the command line."""

from __future__ import annotations

import json
import shlex
from dataclasses import fields

from ..config import ConfigError, TrainConfig, read_config_file
from ..models import MODEL_NAMES
from ..train import resolved_data

# flags that ``train`` exposes directly; any other key goes through --set KEY=VALUE
TRAIN_FLAGS = {
    "task": (str, "reconstruction (Moving MNIST, PSNR), classification (Speech Commands, "
                  "accuracy) or language_model (WikiText-2 / PTB, perplexity)"),
    "model": (str, f"model name: {', '.join(MODEL_NAMES)}"),
    "rate": (float, "reconstruction: CS rate n/n0 in (0, 1]"),
    "classes": (str, "classification: class set google12 or google30"),
    "hidden_size": (int, "hidden units h"),
    "num_layers": (int, "layers d = unfolded iterations"),
    "epochs": (int, "training epochs"),
    "batch_size": (int, "minibatch size"),
    "lr": (float, "Adam learning rate"),
    "num_sequences": (int, "reconstruction: Moving MNIST sequences to generate"),
    "split": (str, "reconstruction: train,valid,test sequence counts, e.g. 240,30,30 "
                   "(default 80/10/10 of --num-sequences)"),
    "data": (str, "reconstruction: 'embedded', a folder with the MNIST idx files, "
                  "mnist_test_seq.npy, or your own sequences as any other .npy ([N, T, H, W] "
                  "or [N, T, n0] in [0, 1]); classification: a Speech Commands folder "
                  "(official layout, or the Google-12 test set), your own .npz (x_train, "
                  "y_train, ...), or a folder of class_name/CLIP.wav files; language_model: a "
                  "WikiText-2 or Penn Treebank folder"),
    "seed": (int, "random seed"),
    "device": (str, "'auto', 'cpu' or 'cuda'"),
    "bound_lambda": (float, "weight of the bound regulariser sum_l ||W_l||_1,inf"),
    "bound_lambda_u": (float, "weight of sum_l ||U_l||_1,inf, the bound's other norms (not "
                              "in paper 000)"),
    "lambda_search_trials": (int, "Optuna trials of the (lambda1, lambda2) search (random "
                                  "sampling; --set lambda_search_sampler=tpe, "
                                  "lambda_search_pruner=median)"),
}


def set_values(args, per_model: bool = False) -> dict:
    """--set KEY=VALUE items (a value is JSON when it parses: numbers, lists, booleans; else
    the string) and --tensorboard, as config keys; ``per_model`` also takes MODEL:KEY=VALUE
    (reproduce: that model's runs only)."""
    known = {f.name for f in fields(TrainConfig)}
    values = {"tensorboard": True} if args.tensorboard else {}
    for item in args.set or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        model, colon, name = key.rpartition(":")
        if colon and per_model and model not in MODEL_NAMES:
            raise ConfigError(f"--set {key}: unknown model {model!r}")
        name = name if colon and per_model else key
        if name not in known:
            raise ConfigError(f"unknown config key {key!r}; valid keys: "
                              f"{', '.join(sorted(known))}")
        # split: 160,20,20 as --split takes it (or the JSON list)
        values[key] = split_counts(text) if name == "split" else json_or_text(text)
    return values


def split_counts(text: str) -> list:
    """(train, valid, test) counts from "240,30,30" or "[240,30,30]"."""
    try:
        counts = [int(v) for v in text.replace("[", "").replace("]", "").split(",")]
    except ValueError:
        counts = []
    if len(counts) != 3:
        raise ConfigError(f"split must be three counts like --split 240,30,30 (train, valid, "
                          f"test), got {text!r}")
    return counts


def config_from_args(args) -> TrainConfig:
    """--config, then the flags, then --set; the data source stored as an absolute path."""
    values = read_config_file(args.config) if args.config else {}
    for key in TRAIN_FLAGS:
        value = getattr(args, key)
        if value is not None:
            values[key] = split_counts(value) if key == "split" else value
    values = {**values, **set_values(args)}
    if isinstance(values.get("data"), str):
        values["data"] = resolved_data(values["data"])
    return TrainConfig.from_dict(values)


def command_line(args) -> str:
    """The exact command this process was started with, as a user would type it."""
    return shlex.join(["unfoldrnn", *args.argv])


def json_or_text(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def add_train_flags(p, with_defaults: bool) -> None:
    """The TRAIN_FLAGS as options of ``p`` (train, tune)."""
    for key, (kind, text) in TRAIN_FLAGS.items():
        default = TrainConfig.__dataclass_fields__[key].default
        if with_defaults:
            text += ("" if "default" in text else " (default: the task's)" if default is None
                     else f" (default {default!r})")
        p.add_argument("--" + key.replace("_", "-"), dest=key, type=kind, help=text)
