"""Fit and evaluate a model on a node or graph task. Knows nothing about quantization beyond the method lifecycle."""

from __future__ import annotations

import copy
import time
from typing import Callable

import torch

from dqbench.run.suite import FP32_BITS

StepHook = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], None]


def seed_everything(seed: int) -> torch.Generator:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def with_penalty(loss: torch.Tensor, method, model) -> torch.Tensor:
    """The task loss plus the method's penalty term (a size or memory penalty), if it has one."""
    extra = method.penalty(model)
    return loss if extra is None else loss + extra


class _NodeTask:
    """Full-batch training on one graph with boolean split masks."""

    def __init__(self, dataset, split, method):
        self.dataset, self.method = dataset, method
        self.data = method.transform(copy.copy(split.data))
        self.masks = {"train": split.train, "val": split.val, "test": split.test}

    def train_epoch(self, model, opt, on_step: StepHook | None = None) -> float:
        model.train()
        opt.zero_grad()
        mask = self.masks["train"]
        out = model(self.data)[mask]
        loss = with_penalty(self.dataset.loss(out, self.data.y[mask]), self.method, model)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(model, out, loss)
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, model, parts=("train", "val", "test")) -> dict:
        model.eval()
        out = model(self.data)
        res = {}
        for part in parts:
            mask = self.masks[part]
            res[part] = self.dataset.score(out[mask], self.data.y[mask])
            res[f"{part}_loss"] = float(self.dataset.loss(out[mask], self.data.y[mask]))
        return res

    def calibration_batches(self):
        return [self.data]

    def profile_batches(self):
        return [self.data]


class _GraphTask:
    """Mini-batch training over lists of graphs."""

    def __init__(self, dataset, split, method, batch_size: int, generator: torch.Generator):
        from torch_geometric.loader import DataLoader

        self.dataset, self.method = dataset, method
        parts = {"train": split.train, "val": split.val, "test": split.test}
        self.graphs = {k: [method.transform(g) for g in v] for k, v in parts.items()}
        self.train_loader = DataLoader(self.graphs["train"], batch_size=batch_size, shuffle=True, generator=generator)
        self.eval_loaders = {k: DataLoader(v, batch_size=max(batch_size, 256)) for k, v in self.graphs.items()}

    def train_epoch(self, model, opt, on_step: StepHook | None = None) -> float:
        model.train()
        total, count = 0.0, 0
        for batch in self.train_loader:
            opt.zero_grad()
            out = model(batch)
            loss = with_penalty(self.dataset.loss(out, batch.y), self.method, model)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(model, out, loss)
            total += float(loss.detach()) * batch.num_graphs
            count += batch.num_graphs
        return total / max(count, 1)

    @torch.no_grad()
    def evaluate(self, model, parts=("train", "val", "test")) -> dict:
        model.eval()
        res = {}
        for part in parts:
            outs, ys = [], []
            for batch in self.eval_loaders[part]:
                outs.append(model(batch))
                ys.append(batch.y)
            out, y = torch.cat(outs), torch.cat(ys)
            res[part] = self.dataset.score(out, y)
            res[f"{part}_loss"] = float(self.dataset.loss(out, y))
        return res

    def calibration_batches(self):
        return list(self.train_loader)

    def profile_batches(self):
        return self.eval_loaders["test"]


def make_task(dataset, split, method, train: dict, seed: int):
    """Seed, then the full-batch node task or the mini-batch graph task (its loader shuffles with that seed)."""
    generator = seed_everything(seed)
    if dataset.task == "node":
        return _NodeTask(dataset, split, method)
    return _GraphTask(dataset, split, method, train["batch_size"], generator)


def fit(model, dataset, split, method, train: dict, seed: int,
        on_epoch: Callable[[int, dict], None] | None = None, on_step: StepHook | None = None,
        on_prepared: Callable[[torch.nn.Module], None] | None = None,
        on_converted: Callable | None = None) -> dict:
    """Train with model selection on the validation split; returns the record's metrics. Hooks (for
    ``dqbench trace``): ``on_prepared(model)`` once the method has filled in its quantizers, ``on_step(model,
    outputs, loss)`` after each optimizer step (outputs: the rows that count in the loss); ``on_converted(
    converted)`` receives the frozen model the metrics describe (``dqbench export``)."""
    task = make_task(dataset, split, method, train, seed)
    model = method.prepare(model)
    if on_prepared is not None:
        on_prepared(model)
    # a quantizer's own parameters (learned steps, widths, width logits) take no weight decay
    named = list(model.named_parameters())
    quant = [p for n, p in named if ".quant." in n]
    groups = [{"params": [p for n, p in named if ".quant." not in n]}]
    if quant:
        groups.append({"params": quant, "weight_decay": 0.0})
    opt = torch.optim.Adam(groups, lr=train["lr"], weight_decay=train["weight_decay"])
    sched = (torch.optim.lr_scheduler.StepLR(opt, train["lr_decay_step"], train["lr_decay_factor"])
             if train["lr_decay_step"] > 0 else None)
    select = train["select"]
    best, best_epoch, best_state, since_best = None, -1, None, 0
    epoch_times = []
    start = time.perf_counter()
    for epoch in range(train["epochs"]):
        t0 = time.perf_counter()
        loss = task.train_epoch(model, opt, on_step)
        epoch_times.append(time.perf_counter() - t0)
        if sched is not None:
            sched.step()
        method.end_epoch(model, epoch, train["epochs"])
        val = task.evaluate(model, parts=("val",))
        key = {"val_score": val["val"], "val_loss": -val["val_loss"], "last": epoch}[select]
        if not method.selectable(epoch, train["epochs"]):
            pass  # a search phase: its models are not candidates, and patience does not run
        elif best is None or key > best:
            best, best_epoch, since_best = key, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        if on_epoch is not None:
            on_epoch(epoch, {"loss": loss, "val": val["val"]})
        if train["patience"] and since_best >= train["patience"]:
            break
    train_time = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    method.calibrate(model, task.calibration_batches())
    scores = task.evaluate(model)
    converted = method.convert(model)
    if on_converted is not None:
        on_converted(converted)
    metrics = {
        **scores, "best_epoch": best_epoch, "epochs_run": len(epoch_times), "train_time_s": train_time,
        "epoch_time_s": sum(epoch_times) / max(len(epoch_times), 1),
        "model_size_bytes": converted.size_bytes(), "avg_bits": converted.avg_bits(),
    }
    input_bits = None
    profile = getattr(converted, "activation_profile", None)
    if callable(profile):
        metrics["act_avg_bits"], input_bits = profile(task.profile_batches())
    bitops = getattr(converted, "bitops", None)
    if callable(bitops):
        try:
            metrics["bitops"] = bitops(input_bits) if input_bits else bitops()
        except TypeError:
            pass
    metrics["quantized"] = converted.bits != FP32_BITS
    if metrics["quantized"]:
        metrics["engine"] = engine_status(converted)
    return metrics


def engine_status(converted) -> str:
    """"ok" where the integer engine lowers the trained model, else its reason (deterministic: no timing)."""
    from dqbench.engine import LoweringError, lower

    try:
        lower(converted, backend="torch")
    except LoweringError as exc:
        return str(exc)
    return "ok"
