"""The report's pictures now live in ``ember.viz`` (``ember.viz.report``, ``ember.viz.style``); this module
keeps the names importable from where they were."""

from ember.viz.report import plot_confusion, plot_curves, plot_misclassified, plot_steps
from ember.viz.style import TRAIN_COLOR, VAL_COLOR, new_figure, save_png

__all__ = [
    "TRAIN_COLOR",
    "VAL_COLOR",
    "new_figure",
    "plot_confusion",
    "plot_curves",
    "plot_misclassified",
    "plot_steps",
    "save_png",
]
