import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from unfoldrnn.cli import main
from unfoldrnn.config import ConfigError, TrainConfig
from unfoldrnn.data import DataError, PennTreebank, WikiText2, load_corpus
from unfoldrnn.tasks import LanguageModelTask, batchify
from unfoldrnn.train import fit, load_checkpoint

from shared_data import DATA, WHERE

SHARED = DATA
needs_data = pytest.mark.skipif(not (SHARED / "ptb").exists(), reason=f"no data copy at {WHERE}")


def write_ptb(root: Path, train: str, valid: str, test: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        (root / f"ptb.{name}.txt").write_text(text)
    return root


@pytest.fixture
def tiny_corpus(tmp_path):
    words = "the cat sat on the mat and the dog sat on the log".split()
    lines = [" ".join(words[i % 5:i % 5 + 6]) for i in range(60)]
    return write_ptb(tmp_path / "ptb", "\n".join(lines), "\n".join(lines[:12]),
                     "\n".join(lines[12:24]))


@needs_data
def test_token_counts_of_the_real_corpora():
    wiki = WikiText2(SHARED / "wikitext-2")
    assert (len(wiki.train), len(wiki.valid), len(wiki.test)) == (2_088_628, 217_646, 245_569)
    assert len(wiki.vocab) == 33_278 and wiki.train.dtype == torch.int64
    ptb = PennTreebank(SHARED / "ptb")
    assert len(ptb.train) == 929_589 and len(ptb.vocab) == 10_000
    first = (SHARED / "ptb" / "ptb.train.txt").read_text().splitlines()[0].split()
    assert ptb.vocab.decode(ptb.train[:len(first) + 1]) == first + ["<eos>"]
    assert ptb.vocab[ptb.vocab.words[7]] == 7
    assert isinstance(load_corpus(SHARED / "wikitext-2"), WikiText2)


def test_every_line_ends_in_eos_and_the_vocabulary_comes_from_train(tmp_path):
    root = write_ptb(tmp_path / "c", "a b\n\nb c\n", "c a\n", "b\n")
    corpus = PennTreebank(root)
    assert corpus.vocab.words == ["a", "b", "<eos>", "c"]
    assert corpus.vocab.decode(corpus.train) == ["a", "b", "<eos>", "<eos>", "b", "c", "<eos>"]
    assert corpus.vocab.decode(corpus.valid) == ["c", "a", "<eos>"]


def test_corpus_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="lacks the ptb file"):
        PennTreebank(write_ptb(tmp_path / "a", "x\n", "x\n", "x\n").parent / "nothing")
    root = write_ptb(tmp_path / "b", "a b\n", "a z\n", "a\n")
    with pytest.raises(DataError, match=r"ptb.valid.txt, line 1: the word 'z'"):
        PennTreebank(root)
    with pytest.raises(DataError, match="ptb.test.txt is empty"):
        PennTreebank(write_ptb(tmp_path / "c", "a\n", "a\n", "  \n"))
    root = write_ptb(tmp_path / "d", "a\n", "a\n", "a\n")
    (root / "ptb.train.txt").write_bytes(b"\x00\x01\x02")
    with pytest.raises(DataError, match="binary"):
        PennTreebank(root)
    (tmp_path / "e").mkdir()
    with pytest.raises(DataError, match="neither WikiText-2"):
        load_corpus(tmp_path / "e")


def test_batchify_and_windows_carry_the_stream_in_order():
    stream = torch.arange(23)
    rows = batchify(stream, 4)
    assert rows.tolist()[1] == [5, 6, 7, 8, 9]  # column b continues column b - 1's text
    task = LanguageModelTask("rnn", 30, 4, 5, 1, bptt=2)
    windows = list(task.windows(stream, 4))
    assert [w[0].shape[1] for w in windows] == [2, 2]  # 5 columns: 4 inputs, 4 targets
    assert torch.equal(windows[0][1], windows[0][0] + 1)  # targets are the next words
    assert torch.equal(torch.cat([w[0] for w in windows], 1), rows[:, :4])


@pytest.mark.parametrize("model", ["reweighted", "lstm", "gru", "sista"])
def test_the_next_word_never_reaches_the_model_at_its_own_step(model):
    task = LanguageModelTask(model, 50, 8, 12, 2)
    words = torch.randint(0, 50, (3, 10))
    changed = words.clone()
    changed[:, 6:] = torch.randint(0, 50, (3, 4))
    with torch.no_grad():
        a = task.log_probs(task(words)[0])
        b = task.log_probs(task(changed)[0])
    assert torch.allclose(a[:, :6], b[:, :6])  # scores at t <= 5 ignore words t + 1..
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_state_is_carried_across_windows_and_detached():
    task = LanguageModelTask("gru", 20, 4, 6, 1, bptt=3)
    stream = torch.randint(0, 20, (60,))
    batches = task.batches(stream, 2)
    first = next(batches)
    loss, _, n = task.training_loss(first)
    assert n == 6 and not task._state.requires_grad
    carried = task._state.clone()
    second = next(batches)
    with torch.no_grad():
        expected = task(second[0], carried)[0]
        assert torch.allclose(task(second[0], task._state)[0], expected)
    next(task.batches(stream, 2))  # a new pass starts from the initial state
    assert task._state is None


def test_without_carry_every_window_starts_from_the_initial_state():
    task = LanguageModelTask("reweighted", 20, 4, 6, 1, bptt=3, carry_state=False)
    stream = torch.randint(0, 20, (61,))
    batches = task.batches(stream, 2)
    task.training_loss(next(batches))
    assert task._state is None
    scores = task.evaluate(stream, batch_size=2)
    rows = batchify(stream, 2)
    total = 0.0
    with torch.no_grad():  # each window of 3 words on its own, from h0
        for start in range(0, rows.shape[1] - 1, 3):
            inputs, targets = rows[:, start:start + 3], rows[:, start + 1:start + 4]
            inputs = inputs[:, : targets.shape[1]]
            codes = task(inputs)[0]
            total += float(F.cross_entropy(task.head(codes).reshape(-1, 20),
                                           targets.reshape(-1), reduction="sum"))
    assert scores["loss"] == pytest.approx(total / (rows.shape[1] - 1) / 2, rel=1e-5)
    carried = LanguageModelTask("reweighted", 20, 4, 6, 1, bptt=3, carry_state=True)
    carried.load_state_dict(task.state_dict())
    assert carried.evaluate(stream, 2)["loss"] != pytest.approx(scores["loss"], rel=1e-5)


def test_perplexity_is_exp_of_the_mean_cross_entropy_per_word():
    task = LanguageModelTask("rnn", 7, 3, 4, 1, bptt=4)
    stream = torch.randint(0, 7, (41,))
    scores = task.evaluate(stream, batch_size=2)
    rows = batchify(stream, 2)
    with torch.no_grad():
        codes = task(rows[:, :-1])[0]  # one pass over the whole column = the carried windows
        ce = F.cross_entropy(task.head(codes).reshape(-1, 7), rows[:, 1:].reshape(-1))
    assert scores["loss"] == pytest.approx(float(ce), rel=1e-5)
    assert scores["perplexity"] == pytest.approx(math.exp(float(ce)), rel=1e-5)
    # a uniform model has perplexity = vocabulary size
    with torch.no_grad():
        task.head.weight.zero_()
    assert task.evaluate(stream, 2)["perplexity"] == pytest.approx(7.0, rel=1e-5)


def test_adaptive_softmax_option_gives_a_normalised_distribution():
    task = LanguageModelTask("gru", 300, 8, 16, 1, adaptive_softmax=True)
    with torch.no_grad():
        logp = task.log_probs(task(torch.randint(0, 300, (2, 5)))[0])
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 5), atol=1e-5)


@pytest.mark.parametrize("model", ["reweighted", "lstm"])
def test_language_model_resume_equals_uninterrupted(tmp_path, tiny_corpus, model):
    config = TrainConfig(task="language_model", data=str(tiny_corpus), model=model,
                         hidden_size=8, embedding_size=6, num_layers=2, epochs=3, batch_size=4,
                         bptt=5, lr=3e-3)
    quiet = {"progress": False, "log": lambda *_: None}
    full = fit(config, tmp_path / "full", **quiet)
    fit(config, tmp_path / "cut", stop_after=1, **quiet)
    resumed = fit(config, tmp_path / "cut", resume=True, **quiet)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["task"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full["test"] == resumed["test"]
    assert full["test"]["perplexity"] < 10  # the vocabulary has 10 words with <eos>


def test_language_model_config(tmp_path, tiny_corpus):
    config = TrainConfig(task="language_model", data=str(tiny_corpus))
    assert (config.bptt, config.batch_size, config.hidden_size, config.track_bound) == \
        (35, 20, 100, False)
    assert config.carry_state is False  # reweighted: a carried state diverges
    lstm = TrainConfig(task="language_model", data=str(tiny_corpus), model="lstm")
    assert lstm.carry_state is True  # word_language_model's convention
    with pytest.raises(ConfigError, match="bptt applies to task language_model only"):
        TrainConfig(bptt=20)
    with pytest.raises(ConfigError, match="Penn Treebank folder"):
        TrainConfig(task="language_model")
    out = tmp_path / "run"
    assert main(["train", "--task", "language_model", "--data", str(tmp_path / "none"),
                 "--out", str(out)]) == 2
    assert not out.exists()


def test_binary_codes_are_frequency_ranks_in_binary():
    from unfoldrnn.tasks import binary_codes

    train = torch.tensor([3, 3, 3, 1, 1, 0, 2, 2, 2, 2, 4])  # ranks: 2 -> 0, 3 -> 1, 1 -> 2
    codes = binary_codes(train, 5, bits=2, unk=None)
    assert codes.tolist()[2] == [0, 0] and codes.tolist()[3] == [0, 1]
    assert codes.tolist()[1] == [1, 0]
    assert codes.tolist()[0] == [1, 1] and codes.tolist()[4] == [1, 1]  # ranks >= 3: last
    assert binary_codes(train, 5, bits=2, unk=3).tolist()[4] == [0, 1]  # rare words: <unk>'s


def test_section6_bounds_by_hand():
    from unfoldrnn import bounds

    g = torch.Generator().manual_seed(0)
    U, V, W = (torch.randn(*s, generator=g, dtype=torch.float64) for s in
               ((6, 6), (9, 6), (6, 3)))
    out = bounds.section6_bounds(U, V, W, t=5)
    spec = lambda M: float(torch.linalg.matrix_norm(M, 2))  # noqa: E731
    B_U, B_V, B_W = spec(U), spec(V), spec(W)
    G = (B_U ** 5 - 1) / (B_U - 1)
    d = 6
    lam = min(math.sqrt(d), B_W * G)
    M = sum(float(A.norm(dim=0).sum()) for A in (U, V, W))  # (2,1): sum of column l2 norms
    F2 = sum(float(A.norm()) ** 2 for A in (U, V, W))
    assert out["ours"] == pytest.approx(d * B_V * lam * math.sqrt(math.log(G)))
    assert out["bound1"] == pytest.approx(d * 25 * B_V * B_W * max(1, B_U ** 5))
    assert out["bound2"] == pytest.approx(B_V * B_W * M * 5 * G)
    assert out["bound3"] == pytest.approx((lam * B_U + B_W) * G * math.sqrt(d * F2))
    assert out["stable_rank"] == pytest.approx(float(U.norm()) / B_U)


def test_fig4_experiment_writes_the_four_bounds(tmp_path, tiny_corpus, monkeypatch):
    from unfoldrnn.experiments import bound_experiments as bx

    monkeypatch.setitem(bx.FIG4_SCALES, "cpu", {"epochs": 1, "batch_size": 4})
    result = bx.run_fig4(str(tiny_corpus), tmp_path, progress=False, log=lambda *_: None)
    assert result["d"] == 128 and result["t"] == 56
    assert all(result[k] > 0 for k in ("ours", "bound1", "bound2", "bound3"))
    folder = tmp_path / "paper002-fig4"
    assert "2.6801" in (folder / "fig4.md").read_text()
    assert (folder / "fig4.png").stat().st_size > 5000


def test_a_diverged_language_model_has_infinite_perplexity_not_an_error():
    task = LanguageModelTask("rnn", 7, 3, 4, 1, bptt=4)
    with torch.no_grad():
        task.head.weight.fill_(1e4)
        task.head.weight[0].fill_(-1e4)
    scores = task.evaluate(torch.zeros(41, dtype=torch.long), 2)  # always word 0
    assert scores["loss"] > 700 and scores["perplexity"] == math.inf


def test_fastgrnn_does_not_carry_its_state_by_default_because_it_grows(tiny_corpus):
    """h_t = (sigmoid(zeta) (1 - z) + sigmoid(nu)) h~ + z h_(t-1): with h~ = 1 and a fixed
    gate z, h_T = c (1 - z^T) / (1 - z), c = sigmoid(zeta) (1 - z) + sigmoid(nu), which for
    z -> 1 grows like sigmoid(nu) T; a GRU's state stays in [-1, 1]."""
    from unfoldrnn.models import build

    fast = build("fastgrnn", 4, 6, 1)
    cell = fast.cells[0]
    with torch.no_grad():
        for weight in cell.U.parameters():
            weight.zero_()  # the gate and the update see the bias only
        cell.bias_gate.fill_(8.0)  # z = sigmoid(8): a long memory
        cell.bias_update.fill_(20.0)  # h~ = tanh(20) = 1
        cell.nu.fill_(2.0)
    T = 2000
    with torch.no_grad():
        h = fast(torch.zeros(1, T, 4))[0][0, -1].double()
        gru = build("gru", 4, 6, 1)(torch.randn(1, T, 4))[0]
    z = torch.sigmoid(torch.tensor(8.0, dtype=torch.float64))
    c = torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)) * (1 - z) + \
        torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    assert torch.allclose(h, c * (1 - z ** T) / (1 - z), rtol=1e-4)
    assert float(h.min()) > 1000
    assert float(gru.abs().max()) <= 1
    config = TrainConfig(task="language_model", data=str(tiny_corpus), model="fastgrnn")
    assert config.carry_state is False
