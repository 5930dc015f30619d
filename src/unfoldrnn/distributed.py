"""Data-parallel training under torchrun (torch.distributed: gloo on CPU, nccl on CUDA).

``torchrun --nproc-per-node N -m unfoldrnn train ...`` starts N processes that build the
same model from the same seed; every global batch (the same on every rank: it is drawn from
the (seed, epoch) generator) is cut into N contiguous shards, each rank computes its shard's
loss through ``DistributedDataParallel``, which all-reduces the gradients in buckets during
the backward. DDP averages the ranks' gradients uniformly; each rank's loss is scaled by
N * count_r / sum_r count_r first, so the average is the whole global batch's gradient also
when the shards differ in size (an uneven last batch). Every rank takes the same step and the
weights stay identical. Rank 0 alone
writes checkpoints, metrics and logs; evaluation and bounds see the whole split on every
rank. Without torchrun (WORLD_SIZE unset) everything here is a no-op.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


class _TrainingLoss(nn.Module):
    """A task's ``training_loss`` as a module's forward, for DistributedDataParallel."""

    def __init__(self, task: nn.Module):
        super().__init__()
        self.task = task

    def forward(self, batch):
        return self.task.training_loss(batch)


class Ranks:
    """This process's place among the data-parallel workers."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.started = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def device(self, device: torch.device) -> torch.device:
        """Each rank its own GPU."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def start(self, device: torch.device) -> None:
        if self.active and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.started = True

    def stop(self) -> None:
        if self.started and dist.is_initialized():
            dist.destroy_process_group()
            self.started = False

    def decide(self, decision):
        """``decision()`` taken once, on the main rank, and shared: every rank returns its
        value or raises its error (pickled: the same class and message). For
        what must not race: checking, creating and probing the run folder."""
        if not self.active:
            return decision()
        box = [None, None]
        if self.main:
            try:
                box[0] = decision()
            except Exception as err:  # noqa: BLE001 -- re-raised on every rank
                box[1] = err
        if dist.get_backend() == "nccl":
            torch.cuda.set_device(self.local_rank)
        dist.broadcast_object_list(box, src=0)
        if box[1] is not None:
            raise box[1]
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def shard(self, batch):
        """This rank's contiguous slice (dim 0) of a batch: a tensor or a tuple of them."""
        if not self.active:
            return batch
        if isinstance(batch, tuple):
            return tuple(self.shard(part) for part in batch)
        return batch.tensor_split(self.world)[self.rank]

    def _sum(self, values: list[float], device) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def training_loss(self, task: nn.Module, device: torch.device):
        """``task.training_loss``; under torchrun the same wrapped in DistributedDataParallel
        (unused parameters allowed only where there are some: a state carried across
        language-model windows leaves the learned h0 out of the graph)."""
        if not self.active:
            return task.training_loss
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            _TrainingLoss(task), device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(task, "carry_state", False)))

    def loss_weight(self, count: int, device) -> float:
        """N * count_r / sum_r count_r: scales this rank's mean loss so that DDP's uniform
        average of the gradients is the mean gradient over the whole global batch."""
        if not self.active:
            return 1.0
        return self.world * count / self._sum([float(count)], device)[0]

    def sum_stats(self, sums: dict[str, float], seen: int) -> tuple[dict[str, float], int]:
        """Epoch sums of the losses and metrics over every rank's shards."""
        if not self.active:
            return sums, seen
        keys = sorted(sums)
        values = self._sum([sums[k] for k in keys] + [float(seen)], torch.device("cpu")
                           if dist.get_backend() == "gloo" else torch.device("cuda"))
        return dict(zip(keys, values[:-1], strict=True)), int(values[-1])

    def any(self, flag: bool) -> bool:
        """Whether any rank raised the flag (e.g. a non-finite loss)."""
        if not self.active:
            return flag
        device = torch.device("cpu") if dist.get_backend() == "gloo" else torch.device("cuda")
        return self._sum([float(flag)], device)[0] > 0
