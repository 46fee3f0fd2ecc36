"""The doctor's pictures now live in ``ember.viz.doctor``; this module keeps the names importable from
where they were."""

from ember.viz.doctor import plot_layer_statistics, plot_monitor, plot_overfit, plot_range_test

__all__ = ["plot_layer_statistics", "plot_monitor", "plot_overfit", "plot_range_test"]
