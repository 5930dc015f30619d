"""Word-level language modelling (paper 000 Sec. 4.3): next-word prediction, perplexity.

x_t = E w_t, the embedding of word t (for unfolding models A = I, n = n0 = embedding size,
paper 000 Sec. 4.1); y_t = Y h_t^(d) at every step; loss: cross-entropy of y_t against word
t + 1; metric: perplexity = exp(mean cross-entropy per word). Truncated back-propagation
through time as in PyTorch's word_language_model: the stream is cut into ``batch_size``
columns, read in windows of ``bptt`` words, the last hidden state carried into the next window
and detached; every epoch and every evaluation starts from the model's initial state.
``carry_state = False`` (the default for the unfolding models and FastGRNN) starts every
window from the initial state instead: the next word predicted from the window's own
history only, as paper 000 Sec. 4.3 states the task ("predicting the n+1 token given a
history of n such tokens").
The unfolding models need it: the linear part W_1 = Z_1 (I - D^T D / c) P of their
recurrence starts at spectral radius ~1 (I - D^T D keeps eigenvalues near 1 where D is weak)
and its soft threshold does not saturate, so a state carried over thousands of steps
integrates its inputs and bursts once ||W_1||_2 > 1 (results/README.md, paper 000 Table 3).
``adaptive_softmax`` replaces the full softmax by ``nn.AdaptiveLogSoftmaxWithLoss``;
``input_encoding = "binary"`` replaces the learned embedding by the fixed binary code of the
word's frequency rank (paper 002 Sec. 6).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import load_corpus
from ..models import UNFOLDING_MODELS, build
from .base import Task
from .classification import paper000_optimiser


def batchify(stream: Tensor, columns: int) -> Tensor:
    """Cut a 1-D token stream into ``columns`` contiguous rows [columns, N // columns] (the
    tail that does not fill a row is dropped); row b continues where row b - 1 stops."""
    if stream.dim() != 1 or len(stream) < 2 * columns:
        raise ValueError(f"a stream of {len(stream)} tokens is too short for {columns} columns")
    per_row = len(stream) // columns
    return stream[: per_row * columns].view(columns, per_row)


def detach_state(state):
    """h_last of any model (a tensor, or LSTM's pair) cut from the graph."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


# models whose carried state grows without bound over a stream: the unfolding models (the
# module docstring) and FastGRNN, whose |h_t| <= sigmoid(zeta) + sigmoid(nu) / (1 - z) once
# its gate z -> 1 (measured on WikiText-2: the state norm of a trained 3-layer FastGRNN grows
# from 8.6 to 182 over 40 carried windows, training loss 19 nats;
# results/fastgrnn-carried-state, tools/carried_state.py)
UNBOUNDED_STATE = (*UNFOLDING_MODELS, "fastgrnn")


def default_carry_state(model: str) -> bool:
    """Carry the state across windows (word_language_model), except for the models whose
    carried state diverges (``UNBOUNDED_STATE``)."""
    return model not in UNBOUNDED_STATE


def binary_codes(train: Tensor, vocab_size: int, bits: int, unk: int | None = None) -> Tensor:
    """x = the ``bits``-digit binary code of a word's frequency rank in the training stream
    (most frequent: rank 0), in [0, 1]^bits (paper 002 Sec. 6 feeds x in [0, 1]^14); words
    ranked 2^bits or later share the code of ``unk`` (or the last code). [vocab, bits]."""
    counts = torch.bincount(train, minlength=vocab_size)
    order = torch.argsort(-counts, stable=True)
    rank = torch.empty(vocab_size, dtype=torch.long)
    rank[order] = torch.arange(vocab_size)
    last = 2 ** bits - 1
    fallback = int(rank[unk]) if unk is not None and int(rank[unk]) <= last else last
    rank = torch.where(rank > last, torch.full_like(rank, fallback), rank)
    digits = 2 ** torch.arange(bits - 1, -1, -1)
    return ((rank[:, None] // digits) % 2).float()


class LanguageModelTask(Task):
    """Embedding, a registered model and the output layer y_t = Y h_t."""

    name = "language_model"
    metric = "perplexity"
    monitor = "perplexity"
    maximize = False
    unfolding_step = 1.0  # paper 000 Sec. 4.1
    keys = ("embedding_size", "bptt", "adaptive_softmax", "max_train_tokens",
            "max_eval_tokens", "input_encoding", "carry_state", "vocab_size")

    @classmethod
    def defaults(cls, model: str) -> dict:
        """Paper 000's optimiser with word_language_model's batch 20 and windows of 35 words."""
        return {**paper000_optimiser(model), "batch_size": 20, "embedding_size": 100,
                "bptt": 35, "adaptive_softmax": False, "max_train_tokens": 0,
                "max_eval_tokens": 0, "input_encoding": "embedding", "track_bound": False,
                "carry_state": default_carry_state(model)}

    def __init__(self, model: str, vocab_size: int, embedding_size: int = 100,
                 hidden_size: int = 100, num_layers: int = 3, bptt: int = 35,
                 adaptive_softmax: bool = False, seed: int = 0,
                 binary_codes: Tensor | None = None, carry_state: bool | None = None,
                 **model_kw):
        super().__init__()
        self.model_name, self.vocab_size, self.bptt = model, vocab_size, bptt
        self.carry_state = default_carry_state(model) if carry_state is None else carry_state
        torch.manual_seed(seed)
        if model in UNFOLDING_MODELS:
            model_kw.setdefault("alpha" if model == "sista" else "c", self.unfolding_step)
            model_kw.setdefault("init", "paper")  # the paper's initialisation works here
        if binary_codes is not None:  # fixed inputs x_t in [0, 1]^bits (paper 002 Sec. 6)
            self.embedding = nn.Embedding.from_pretrained(binary_codes, freeze=True)
            embedding_size = binary_codes.shape[1]
        else:
            self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.model = build(model, embedding_size, hidden_size, num_layers, **model_kw)
        if adaptive_softmax:
            cutoffs = [c for c in (2000, 10000) if c < vocab_size - 1] or [vocab_size // 2]
            self.head = nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, cutoffs,
                                                      div_value=4.0)
        else:
            self.head = nn.Linear(hidden_size, vocab_size, bias=False)
        self._state = None

    def forward(self, words: Tensor, state=None) -> tuple[Tensor, object]:
        """Word ids [B, T] -> (codes [B, T, h], the state after the last word)."""
        return self.model(self.embedding(words.to(self.embedding.weight.device)), state)

    def log_probs(self, codes: Tensor) -> Tensor:
        """log p(next word) [B, T, vocab] from the codes."""
        if isinstance(self.head, nn.AdaptiveLogSoftmaxWithLoss):
            return self.head.log_prob(codes.reshape(-1, codes.shape[-1])).view(
                *codes.shape[:2], -1)
        return F.log_softmax(self.head(codes), dim=-1)

    def _loss(self, codes: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy per word."""
        flat = codes.reshape(-1, codes.shape[-1])
        targets = targets.reshape(-1).to(flat.device)
        if isinstance(self.head, nn.AdaptiveLogSoftmaxWithLoss):
            return self.head(flat, targets).loss
        return F.cross_entropy(self.head(flat), targets)

    # ------------------------------------------------------------ the loop's interface

    @classmethod
    def load_data(cls, config, progress: bool = True):
        """(train, valid, test) token streams of the corpus in ``config.data``, cut to
        ``max_train_tokens`` / ``max_eval_tokens`` where those are set (CPU scale)."""
        corpus = load_corpus(config.data)

        def cut(stream, n):
            return stream[:n] if n else stream

        return (cut(corpus.train, config.max_train_tokens),
                cut(corpus.valid, config.max_eval_tokens),
                cut(corpus.test, config.max_eval_tokens))

    @classmethod
    def data_settings(cls, config, splits) -> dict:
        """The vocabulary's size, for the run's config (the words: ``run_files``)."""
        return {"vocab_size": len(load_corpus(config.data).vocab)}

    @classmethod
    def run_files(cls, config) -> dict[str, str]:
        """vocabulary.txt: the words by id, one per line (``predict`` reads it)."""
        return {"vocabulary.txt": "\n".join(load_corpus(config.data).vocab.words) + "\n"}

    @classmethod
    def from_config(cls, config, train=None, seed: int | None = None, **model_kw):
        """The task of ``config``; without the corpus when its vocab_size is known and a
        checkpoint will provide the weights (``train`` None)."""
        if train is None and config.vocab_size is not None:
            vocab_size, codes = config.vocab_size, None
            if config.input_encoding == "binary":  # the checkpoint holds the codes
                codes = torch.zeros(vocab_size, config.embedding_size)
        else:
            corpus = load_corpus(config.data)  # cached: cheap
            vocab_size, codes = len(corpus.vocab), None
            if config.input_encoding == "binary":
                codes = binary_codes(corpus.train, len(corpus.vocab), config.embedding_size,
                                     corpus.vocab.ids.get("<unk>"))
        return cls(config.model, vocab_size, config.embedding_size, config.hidden_size,
                   config.num_layers, config.bptt, config.adaptive_softmax,
                   seed=config.seed if seed is None else seed, binary_codes=codes,
                   carry_state=config.carry_state, **model_kw)

    def windows(self, stream: Tensor, columns: int):
        """(inputs [columns, <= bptt], next words) windows over the batchified stream."""
        rows = batchify(stream, columns)
        for start in range(0, rows.shape[1] - 1, self.bptt):
            end = min(start + self.bptt, rows.shape[1] - 1)
            yield rows[:, start:end], rows[:, start + 1:end + 1]

    def batches(self, split: Tensor, batch_size: int, generator=None):
        """Windows in stream order (truncated BPTT never shuffles); the carried state starts
        afresh with every pass."""
        self._state = None
        yield from self.windows(split, batch_size)

    def num_batches(self, split: Tensor, batch_size: int) -> int:
        return math.ceil((len(split) // batch_size - 1) / self.bptt)

    def training_loss(self, batch):
        words, targets = batch
        codes, state = self(words, self._state)
        self._state = detach_state(state) if self.carry_state else None
        return self._loss(codes, targets), {}, targets.numel()

    @torch.no_grad()
    def evaluate(self, split: Tensor, batch_size: int = 10) -> dict[str, float]:
        """Cross-entropy per word and perplexity over the whole stream, in ``batch_size``
        columns (10, as word_language_model evaluates), the state carried throughout (with
        ``carry_state``; else every window from the initial state)."""
        self.eval()
        total, words, state = 0.0, 0, None
        for inputs, targets in self.windows(split, min(batch_size, 10)):
            codes, state = self(inputs, state if self.carry_state else None)
            total += float(self._loss(codes, targets)) * targets.numel()
            words += targets.numel()
        loss = total / words
        # a diverged model's perplexity overflows a float: report it as inf
        return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else math.inf}

    def model_inputs(self, split: Tensor) -> Tensor:
        """Embedded windows [m, bptt, n] of the stream (for the bounds)."""
        rows = batchify(split, max(1, len(split) // self.bptt - 1))[:, : self.bptt]
        return self.embedding(rows.to(self.embedding.weight.device))

    @staticmethod
    def describe(scores: dict[str, float]) -> str:
        return f"perplexity {scores['perplexity']:.1f}"
