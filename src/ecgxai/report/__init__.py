"""Figures: explanations over their ECG (``ecg_plot``) and metric plots (Matplotlib); SVG, PNG or PDF."""

from ecgxai.report.comparison import plot_method_comparison
from ecgxai.report.ecg import ExplanationFigure, plot_comparison, plot_from_payload
from ecgxai.report.figure import MetricFigure, ReportFigure
from ecgxai.report.metrics import plot_deletion_curves, plot_metric_boxes

__all__ = [
    "ExplanationFigure",
    "MetricFigure",
    "ReportFigure",
    "plot_comparison",
    "plot_deletion_curves",
    "plot_from_payload",
    "plot_method_comparison",
    "plot_metric_boxes",
]
