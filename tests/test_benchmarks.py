"""benchmarks/unfolding_speed.py runs (tiny sizes) and reports every model's ratio to
torch.nn.RNN from its own medians; no timing is asserted (benchmarks measure, tests do not)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "unfolding_speed.py"


def test_the_speed_benchmark_runs_and_its_ratios_are_its_medians(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH.parent))  # as running the script puts it
    spec = importlib.util.spec_from_file_location("unfolding_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tiny = dict(B=4, T=5, n=6, h=8, d=2)
    monkeypatch.setattr(bench, "SETTINGS", {"speech+": tiny, "h256": tiny})
    for setting in ("speech+", "h256"):
        rows = bench.bench(setting, repeats=2)
        assert [r["model"] for r in rows] == ["torch.RNN", "torch.GRU", *bench.UNFOLDING,
                                              *bench.FORCED]
        rnn = rows[0]["ms"]
        for row in rows:
            assert row["vs_torch_rnn"] == pytest.approx(rnn / row["ms"])
            assert row["saved_mib"] > 0 and len(row["times_ms"]) == 2
    assert "| speech+ | reweighted |" in bench.markdown(rows[:0] + bench.bench("speech+", 1))
    rounds = [bench.bench("h256", repeats=1) for _ in range(3)]
    merged = bench.over_rounds(rounds)
    for i, row in enumerate(merged):
        ratios = sorted(r[i]["vs_torch_rnn"] for r in rounds)
        assert row["vs_torch_rnn"] == ratios[1] and row["vs_torch_rnn_rounds"] == [
            r[i]["vs_torch_rnn"] for r in rounds]
        assert len(row["times_ms"]) == 3
    assert f"({ratios[0]:.2f}-{ratios[2]:.2f})" in bench.markdown(merged)
