"""Reports: what pretraining bought, read from run artifacts only.

`write_report(dir)` turns a compare directory (compare.json + cell run dirs) into the transfer
report (data efficiency, labels saved, lift with confidence intervals, convergence, cost,
forgetting, lineage) as report.html and report.md; given a single run directory it writes a
smaller report of that run. This package reads files; it never imports torch or the training side.
"""

from warmstart.reports.render import write_report

__all__ = ["write_report"]
