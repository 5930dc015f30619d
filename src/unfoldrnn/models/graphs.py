"""CUDA graphs for any model: forward and backward captured once per input shape, replayed.

The unfolding RNNs run T d small layer steps, each a GEMM and a few element-wise kernels;
on a GPU they are launch-bound (microsecond kernels, Python in between). A CUDA graph
records the whole forward and the hand-written backward through time once and replays them
as one launch each (``torch.cuda.make_graphed_callables``). ``use_cuda_graphs(module)``
installs a dispatcher on a model or a whole task: training-mode calls on CUDA with gradients
enabled and tensor arguments replay the graph of their shape (captured on first sight);
anything else (evaluation, ``no_grad``, CPU tensors, keyword arguments) runs eagerly.
The state_dict is untouched, so checkpoints do not change.

Graph the outermost module that owns every parameter it uses: a parameter also used outside
the graph (a task's sensing matrix A feeding the model's input) makes the backward's capture
fail, so the training loop graphs the whole task.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["use_cuda_graphs", "GraphedForward"]


class _Eager(nn.Module):
    """The model's own forward as a module of its own, for make_graphed_callables."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args):
        return type(self.model).forward(self.model, *args)


class GraphedForward:
    """Replaces ``model.forward``: replays a captured graph per (shape, dtype) of the inputs."""

    def __init__(self, model: nn.Module, warmup: int = 3):
        self.model, self.warmup, self.graphs = model, warmup, {}

    def _eager(self, *args, **kwargs):
        return type(self.model).forward(self.model, *args, **kwargs)

    def __call__(self, *args, **kwargs):
        model = self.model
        if kwargs or not args or not all(isinstance(a, torch.Tensor) and a.is_cuda
                                          for a in args) \
                or not (model.training and torch.is_grad_enabled()):
            return self._eager(*args, **kwargs)
        key = tuple((tuple(a.shape), a.dtype) for a in args)
        if key not in self.graphs:
            samples = tuple(a.detach().clone().requires_grad_(a.requires_grad) for a in args)
            self.graphs[key] = torch.cuda.make_graphed_callables(
                _Eager(model), samples, num_warmup_iters=self.warmup)
        return self.graphs[key](*args)


def use_cuda_graphs(model: nn.Module, warmup: int = 3) -> nn.Module:
    """Install CUDA-graph replay on ``model`` (in place; returns it). Needs a CUDA model
    whose forward makes no CPU synchronisation while a graph is captured (the models of this
    library skip their NaN check then). Inputs of a new shape are captured on first use,
    which costs ``warmup`` eager calls."""
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA graphs need a CUDA device")
    model.forward = GraphedForward(model, warmup)
    return model
