"""Deployment: ``dqbench export`` (a recorded trial's model -> one ``.dqb`` integer program) and ``dqbench infer``
(run such a file on a graph file, with nothing of the training code or the dataset)."""
