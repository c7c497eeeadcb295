"""Running suites: the suite loader, trial expansion, the runner, training, records and the run directory."""
