"""Reports: the aggregate stage's summary, tables, figures, DVC plot data, and the
offline HTML template for `dvc plots show`.
Imports mpn.core, mpn.pipeline (the stage runner), mpn.data (a task's relations), mpn.experiment (metrics) and
mpn.editing (method names)."""
from mpn.report.aggregate import AggregateParams, aggregate
from mpn.report.inputs import ReportLayout, load_reports

__all__ = ["AggregateParams", "ReportLayout", "aggregate", "load_reports"]
