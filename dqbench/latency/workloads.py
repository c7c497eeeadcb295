"""What a latency trial times: node tasks, one full-graph inference; graph tasks, inference over many graphs in
batches of ``batch_size`` (PyG ``Batch``, in dataset order): the test split where the dataset has one fixed split
(OGB), every graph where it is cross-validated (each graph is a test graph of some fold)."""

from __future__ import annotations


def workload(dataset, batch_size: int) -> tuple[list, str]:
    """The batches to time and a one-line description of them."""
    from torch_geometric.data import Batch

    split = dataset.split(0)
    if split.data is not None:
        data = split.data
        return [data], f"full graph: {int(data.num_nodes)} nodes, {int(data.edge_index.size(1))} edges"
    if dataset.num_folds > 1:
        graphs, which = [*split.train, *split.val, *split.test], "every graph"
    else:
        graphs, which = list(split.test), "the test split"
    batches = [Batch.from_data_list(graphs[i:i + batch_size]) for i in range(0, len(graphs), batch_size)]
    nodes = sum(int(b.num_nodes) for b in batches)
    return batches, (f"{which}: {len(graphs)} graphs ({nodes} nodes) in {len(batches)} batches of up to "
                     f"{batch_size}")


def num_graphs(batches: list) -> int:
    return sum(int(getattr(b, "num_graphs", 1) or 1) for b in batches)
