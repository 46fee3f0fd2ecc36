"""The doctor on ``ember train``'s default setup (the small CNN on Fashion-MNIST, SGD with Nesterov momentum):
every check passes, and the range test's suggestion trains well, by measurement.

The second is a reduced version of ``benchmarks/bench_lr_find.py`` (which runs the full sweep, 60-step runs
on a half-decade grid and one-epoch runs; its results are in docs/babysitting.md): the default recipe's model
and optimizer on 4,000 training images, batches of 64, a 50-step sweep, then 20-step runs from the same
initial weights on the same batches at 1e-3, 1e-2, 1e-1, 1 and at the suggestion, each measured on 500
held-out images. A rate trains well when its held-out loss gets 80% of the way from the initial loss to the
best run's; the suggestion must be one of those, and the band must leave rates out on both sides (so the
test can fail).
"""

from __future__ import annotations

import numpy as np
import pytest

from ember.train import recipes, run
from ember.train.config import resolve_config
from ember.train.doctor import DoctorOptions, band_of_rates, doctor, lr_find, verify_learning_rates
from ember.train.doctor.findings import rate
from tests.data.test_datasets import FASHION_DIR

pytestmark = pytest.mark.skipif(
    not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)


@pytest.fixture(scope="module")
def default_setup():
    """The default recipe on 4,000 training images, in batches of 64 (the checks restore what they touch)."""
    config = resolve_config({"workers": 0, "subset": 4000, "val_size": 500, "batch_size": 64})
    return config, run.build(config)


def test_the_default_setup_passes_every_check(default_setup):
    config, pieces = default_setup
    budget = DoctorOptions(overfit_steps=60, held_out=300, lr_iterations=50, verify_steps=10, val_batches=1)
    report = doctor(config, pieces=pieces, options=budget, echo=lambda line: None)
    assert [f.check for f in report.findings][-1] == "layer statistics" and len(report.findings) == 5
    assert report.ok, "\n".join(map(str, report.flagged))


def test_the_suggestion_on_the_default_cnn_lies_in_the_band_of_rates_that_train_well(default_setup):
    config, pieces = default_setup
    loss = recipes.build_loss(config)
    found = lr_find(pieces.model, pieces.train_loader, pieces.optimizer, loss, num_iter=50)
    assert found.suggestion is not None, found
    rates = [1e-3, 1e-2, 1e-1, 1.0, found.suggestion]
    trials = verify_learning_rates(
        pieces.model,
        pieces.train_loader,
        pieces.optimizer,
        rates,
        loss,
        steps=20,
        val_loader=pieces.val_loader,
    )
    band = band_of_rates(trials, float(np.mean(found.losses[:5])))
    table = ", ".join(f"{rate(t.lr)}: {t.val_loss:.3g}" for t in trials)
    assert found.suggestion in band, f"suggestion {rate(found.suggestion)}, band {band} ({table})"
    assert 1e-3 not in band and 1.0 not in band, table  # too low and too high are told apart
