"""``ember.train``: the training loop, its callbacks, checkpoints and metrics.

``Trainer`` runs the lectures' loop (sample a batch, forward, loss, backward, update; validate each epoch);
``ember.train.callbacks`` watch it (progress bar, logs, checkpoints, early stopping, divergence guard);
``ember.train.checkpoint`` saves and restores whole runs in safetensors files; ``ember.train.metrics``
measures classifiers. See ``docs/training.md``.
"""

from ember.train.callbacks import (
    BatchLogs,
    Callback,
    DivergenceGuard,
    EarlyStopping,
    MetricLogger,
    ModelCheckpoint,
    ProgressBar,
)
from ember.train.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from ember.train.metrics import ClassificationMetrics, EvaluationResult, accuracy, confusion_matrix
from ember.train.trainer import Trainer

__all__ = [
    "BatchLogs",
    "Callback",
    "CheckpointError",
    "ClassificationMetrics",
    "DivergenceGuard",
    "EarlyStopping",
    "EvaluationResult",
    "MetricLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "Trainer",
    "accuracy",
    "confusion_matrix",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]
