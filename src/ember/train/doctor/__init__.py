"""``ember.train.doctor``: babysitting the learning process, the lectures' checklist as functions.

"Babysitting the Learning Process" and "Choosing hyperparameters" (steps 1-3) in the lectures, each step a
function on the user's own model and loader that returns a ``Finding`` (``ok``, the numbers, a message in
the lectures' words, the likely causes when it trips) and leaves everything as it found it:

- ``check_initial_loss``: the loss at initialization against ln(C) (softmax) or C - 1 (SVM, margin 1);
- ``check_regularization``: turning regularization up raises the loss;
- ``overfit_small_sample``: ~100% training accuracy on a few dozen examples, with a label-shuffle control;
- ``lr_find``: the learning-rate range test, a suggestion, and its verification by short runs;
- ``layer_statistics``: activations, dead ReLUs, saturation, gradients and update/weight ratios per layer,
  through module hooks (``Module.register_forward_hook``, ``register_full_backward_hook``).

``doctor(config)`` runs them all on what a training configuration describes (``ember doctor``);
``Monitor`` watches the layer statistics during training (``ember train --monitor``). The pictures are
drawn by ``ember.viz.doctor``. See ``docs/babysitting.md``.
"""

from ember.train.doctor.checks import check_initial_loss, check_regularization, expected_initial_loss
from ember.train.doctor.findings import Finding
from ember.train.doctor.monitor import Monitor, read_monitor
from ember.train.doctor.overfit import overfit_small_sample
from ember.train.doctor.range_test import (
    RangeTest,
    Trial,
    band_of_rates,
    lr_find,
    suggest,
    verify_learning_rates,
    within_band,
)
from ember.train.doctor.runner import CHECKS, DoctorOptions, DoctorReport, doctor
from ember.train.doctor.statistics import LayerReport, LayerStats, ParameterStats, layer_statistics

__all__ = [
    "CHECKS",
    "DoctorOptions",
    "DoctorReport",
    "Finding",
    "LayerReport",
    "LayerStats",
    "Monitor",
    "ParameterStats",
    "RangeTest",
    "Trial",
    "band_of_rates",
    "check_initial_loss",
    "check_regularization",
    "doctor",
    "expected_initial_loss",
    "layer_statistics",
    "lr_find",
    "overfit_small_sample",
    "read_monitor",
    "suggest",
    "verify_learning_rates",
    "within_band",
]
