"""Where a run's trials execute: in this process, in local worker processes (``--jobs``) or as Ray tasks
(``--executor ray``). Each executor yields finished records; the runner alone writes them."""
