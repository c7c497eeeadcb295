"""The loaded-dataset contract: task, split protocol, metric, loss and score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F


@dataclass
class Split:
    """One train/val/test split. Node tasks: ``data`` plus boolean masks; graph tasks: lists of graphs."""

    data: Any
    train: Any
    val: Any
    test: Any


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    if y.numel() == 0:
        return float("nan")
    return float((logits.argmax(dim=-1) == y.view(-1)).float().mean())


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y.view(-1))


@dataclass
class LoadedDataset:
    name: str
    task: str
    metric: str
    protocol: str
    num_features: int
    out_channels: int
    num_folds: int
    splits: Callable[[int], Split]
    loss_fn: Callable = cross_entropy
    score_fn: Callable = accuracy
    stats: dict = field(default_factory=dict)

    def split(self, fold: int) -> Split:
        if not 0 <= fold < self.num_folds:
            from dqbench.errors import DQBenchError

            raise DQBenchError(f"dataset '{self.name}' has folds 0..{self.num_folds - 1}, not {fold}")
        return self.splits(fold)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(logits, y)

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        return self.score_fn(logits, y)
