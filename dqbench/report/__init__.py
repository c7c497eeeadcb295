"""Reports of a run directory: tables, CSV and plots (no torch); ``document.write_report`` writes them."""
