"""Experiments built from ordinary runs: compare (pretrained vs scratch × budgets × seeds)."""
