"""CUDA graphs against eager execution (run on a GPU machine; skipped elsewhere)."""

import pytest
import torch

from unfoldrnn.models import build
from unfoldrnn.models.graphs import use_cuda_graphs

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("name", ["reweighted", "l1l1", "sista", "gru", "spectralrnn"])
def test_cuda_graph_replay_equals_eager(name):
    torch.manual_seed(3)
    kw = {"signal_size": 16, "compile_prox": False} if name in ("reweighted", "l1l1") else \
        {"signal_size": 16} if name == "sista" else {}
    eager = build(name, 8, 24, 3, **kw).cuda()
    graphed = build(name, 8, 24, 3, **kw).cuda()
    graphed.load_state_dict(eager.state_dict())
    use_cuda_graphs(graphed)
    for _ in range(3):  # capture on the first call, replay on the next ones
        x = torch.randn(4, 6, 8, device="cuda")
        for model in (eager, graphed):
            for p in model.parameters():
                p.grad = None
        out_e = eager(x)[0]
        out_g = graphed(x)[0]
        torch.testing.assert_close(out_g, out_e, rtol=1e-5, atol=1e-5)
        out_e.square().sum().backward()
        out_g.square().sum().backward()
        for (n, p), q in zip(eager.named_parameters(), graphed.parameters(), strict=True):
            if p.grad is not None:
                torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=n)
    assert len(graphed.forward.graphs) == 1
    with torch.no_grad():  # evaluation runs eagerly, any shape
        torch.testing.assert_close(graphed(x[:2])[0], eager(x[:2])[0])


@cuda
def test_a_graphed_task_trains_its_shared_sensing_matrix():
    from unfoldrnn.tasks import ReconstructionTask

    torch.manual_seed(0)
    eager = ReconstructionTask("reweighted", 64, 0.2, 32, 2, compile_prox=False).cuda()
    graphed = ReconstructionTask("reweighted", 64, 0.2, 32, 2, compile_prox=False).cuda()
    graphed.load_state_dict(eager.state_dict())
    use_cuda_graphs(graphed)
    for _ in range(3):
        s = torch.rand(20, 5, 64, device="cuda")
        for task in (eager, graphed):
            task.A.grad = None
            task.loss(task(s), s).backward()
        torch.testing.assert_close(graphed.A.grad, eager.A.grad, rtol=1e-4, atol=1e-5)


@cuda
def test_training_with_cuda_graphs_matches_eager(tmp_path):
    from unfoldrnn.config import TrainConfig
    from unfoldrnn.train import fit

    base = dict(num_sequences=60, split=(40, 10, 10), hidden_size=32, num_layers=2, epochs=2,
                batch_size=20, lr=3e-3, frame_size=8, device="cuda", compile_prox=False)
    quiet = {"progress": False, "log": lambda *_: None}
    eager = fit(TrainConfig.from_dict(base), tmp_path / "eager", **quiet)
    graphs = fit(TrainConfig.from_dict({**base, "cuda_graphs": True}), tmp_path / "graphs",
                 **quiet)
    assert graphs["test"]["psnr"] == pytest.approx(eager["test"]["psnr"], abs=1e-3)
