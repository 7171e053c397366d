"""Reports: accuracy per protocol variant and judge, with Wilson intervals, as rich tables."""

from debate.report.accuracy import GROUP_FIELDS, AccuracyRow, accuracy_table, wilson_interval
from debate.report.render import render_accuracy

__all__ = ["GROUP_FIELDS", "AccuracyRow", "accuracy_table", "render_accuracy", "wilson_interval"]
