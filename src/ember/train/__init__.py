"""``ember.train``: the training loop, its callbacks, checkpoints and metrics.

``Trainer`` runs the lectures' loop (sample a batch, forward, loss, backward, update; validate each epoch);
``ember.train.callbacks`` watch it (progress bar, logs, checkpoints, early stopping, divergence guard);
``ember.train.checkpoint`` saves and restores whole runs in safetensors files; ``ember.train.metrics``
measures classifiers; ``ember.train.ensemble`` averages models' predictions and ``ember.train.transfer``
fine-tunes a trained model on new data. See ``docs/training.md`` and ``docs/ensembles.md``.
"""

from ember.train.callbacks import (
    BatchLogs,
    Callback,
    DivergenceGuard,
    EarlyStopping,
    MetricLogger,
    ModelCheckpoint,
    ProgressBar,
    SnapshotEnsemble,
    WeightAveraging,
)
from ember.train.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from ember.train.ensemble import Ensemble, load_ensemble
from ember.train.metrics import ClassificationMetrics, EvaluationResult, accuracy, confusion_matrix
from ember.train.trainer import Trainer

__all__ = [
    "BatchLogs",
    "Callback",
    "CheckpointError",
    "ClassificationMetrics",
    "DivergenceGuard",
    "EarlyStopping",
    "Ensemble",
    "EvaluationResult",
    "MetricLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "SnapshotEnsemble",
    "Trainer",
    "WeightAveraging",
    "accuracy",
    "confusion_matrix",
    "load_checkpoint",
    "load_ensemble",
    "read_metadata",
    "save_checkpoint",
]
