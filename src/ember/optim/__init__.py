"""Optimizers (``ember.optim``) and learning-rate schedules (``ember.optim.lr_scheduler``), as in
``torch.optim``.

The course's toolbox: SGD with momentum and Nesterov momentum, AdaGrad, Adadelta, RMSprop, Adam, AdamW and
L-BFGS, each in its own module with its update rule and paper in the docstring; ``swa_utils``: EMA and
stochastic weight averaging (``AveragedModel``, ``SWALR``, ``update_bn``).
"""

from ember.optim import lr_scheduler, swa_utils
from ember.optim.adadelta import Adadelta
from ember.optim.adagrad import Adagrad
from ember.optim.adam import Adam, AdamW
from ember.optim.lbfgs import LBFGS
from ember.optim.optimizer import Optimizer
from ember.optim.rmsprop import RMSprop
from ember.optim.sgd import SGD

__all__ = [
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "lr_scheduler",
    "swa_utils",
]
