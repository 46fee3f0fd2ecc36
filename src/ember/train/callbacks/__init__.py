"""Callbacks: everything around the training loop that is not the loop (see ``base`` for the contract)."""

from ember.train.callbacks.base import BatchLogs, Callback, CallbackList, TrainingLoop
from ember.train.callbacks.checkpoint import ModelCheckpoint
from ember.train.callbacks.divergence import DivergenceGuard, divergence_message
from ember.train.callbacks.early_stopping import EarlyStopping
from ember.train.callbacks.logging import MetricLogger, read_csv
from ember.train.callbacks.progress import ProgressBar, epoch_line

__all__ = [
    "BatchLogs",
    "Callback",
    "CallbackList",
    "DivergenceGuard",
    "EarlyStopping",
    "MetricLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "TrainingLoop",
    "divergence_message",
    "epoch_line",
    "read_csv",
]
