"""The learning-rate range test (Smith 2015, "Cyclical learning rates for training neural networks"; fastai's
``lr_find``), with a suggestion that is checked by training, not trusted.

The sweep. From the current weights, one mini-batch step per rate, the rate growing log-uniformly from
``start_lr`` (1e-7) to ``end_lr`` (10), recording the loss of each step; it stops when the loss diverges
(NaN, or four times its lowest smoothed value). Read as the lectures read a loss curve: where the loss does
not move, the rate is too low ("loss not going down: rate too low"); where it shoots up, too high ("loss
explodes to NaN: rate too high"); the useful rates lie where it falls.

The suggestion. The usual rules are fragile, as users of fastai, Lightning and pytorch-lr-finder report:
the steepest slope of the raw curve (``np.gradient`` of the losses) jumps to whichever spike the noise puts
there; it is taken per *index*, not per unit of log-rate, and after NaNs the indices shift; "the minimum
divided by 10" depends on where the loss happens to blow up; and both move with the range swept. Here:

1. the curve is smoothed by local linear regression in log10(rate) (a window of ``smoothing`` of the
   sweep's steps): a lag-free average, unlike the exponential moving average, which shifts the curve
   toward higher rates, and whose slope is the regression's, in loss per decade of rate, so steps of any
   size and noise of any kind are handled the same way;
2. the *valley* is the stretch before the smoothed minimum where the loss has already fallen by a tenth of
   its total fall (the start of the descent: Smith's lower bound) up to the minimum (beyond it the rate is
   too high); spikes outside it cannot be chosen;
3. the suggestion is the steepest descent of the smoothed curve within the valley: the rate at which one
   more decade of rate buys the most loss (the "steep" point of Smith and fastai, made robust by 1-2). The
   minimum / 10 (one order of magnitude below the edge of instability, Gugger's reading of the curve) is
   shown beside it as the cautious candidate;
4. the suggestion is then *verified*: short real runs from the same weights, on the same batches, at the
   suggestion and at 1/10 and 10 times it, each measured on held-out batches. The rate that trains best is
   the verified choice (``RangeTest.verified_lr``), and the report says which one it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember import nn
from ember.train.doctor.findings import Finding, rate
from ember.train.doctor.state import cycle, default_loss, first_batches, preserved, set_lr, stepper
from ember.train.trainer import evaluate

DIVERGENCE = 4.0  # the sweep stops when the smoothed loss exceeds this many times its lowest value


@dataclass
class Trial:
    """A short run at one rate: its training losses and what it reached on held-out batches."""

    lr: float
    losses: list[float]
    val_loss: float
    val_accuracy: float

    @property
    def diverged(self) -> bool:
        return not (math.isfinite(self.val_loss) and all(map(math.isfinite, self.losses)))


@dataclass
class RangeTest(Finding):
    """The sweep (``lrs``, ``losses``, ``smoothed``), the candidates, the suggestion and its verification."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    candidates: dict[str, float] = field(default_factory=dict)
    valley: tuple[float, float] | None = None
    suggestion: float | None = None
    trials: list[Trial] = field(default_factory=list)
    configured_lr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding and the whole curve (``from_dict`` reads it back, e.g. to draw it again)."""
        return {
            **super().to_dict(),
            "lrs": self.lrs,
            "losses": [loss if math.isfinite(loss) else None for loss in self.losses],
            "smoothed": self.smoothed,
            "candidates": self.candidates,
            "valley": list(self.valley) if self.valley else None,
            "suggestion": self.suggestion,
            "trials": [[t.lr, t.losses, t.val_loss, t.val_accuracy] for t in self.trials],
            "configured_lr": self.configured_lr,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeTest:
        def number(value: Any) -> float:
            return math.nan if value is None or isinstance(value, str) else float(value)

        return cls(
            data["check"],
            data["ok"],
            data["message"],
            dict(data.get("numbers", {})),
            list(data.get("causes", [])),
            lrs=list(data["lrs"]),
            losses=[number(loss) for loss in data["losses"]],
            smoothed=list(data["smoothed"]),
            candidates=dict(data["candidates"]),
            valley=(data["valley"][0], data["valley"][1]) if data.get("valley") else None,
            suggestion=data.get("suggestion"),
            trials=[
                Trial(lr, [number(x) for x in losses], number(v), number(a))
                for lr, losses, v, a in data["trials"]
            ],
            configured_lr=data.get("configured_lr"),
        )

    @property
    def verified_lr(self) -> float | None:
        """The rate that trained best among the verification runs (the suggestion if none were run)."""
        finite = [trial for trial in self.trials if not trial.diverged]
        if not finite:
            return self.suggestion
        return min(finite, key=lambda trial: trial.val_loss).lr


# ----------------------------------------------------------------------------------------------------------
# The curve
def smooth(log_lrs: np.ndarray, losses: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Local linear regression of the loss on log10(rate) over ``window`` points around each point:
    (fitted value, slope in loss per decade). Windows shrink at the ends of the curve."""
    n = len(losses)
    values, slopes = np.empty(n), np.empty(n)
    half = max(window // 2, 1)
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        x, y = log_lrs[lo:hi], losses[lo:hi]
        if len(x) < 2:
            values[i], slopes[i] = losses[i], 0.0
            continue
        xc = x - x.mean()
        slope = float(np.dot(xc, y - y.mean()) / np.dot(xc, xc))
        values[i] = y.mean() + slope * (log_lrs[i] - x.mean())
        slopes[i] = slope
    return values, slopes


def suggest(
    lrs: np.ndarray, losses: np.ndarray, smoothing: int = 9
) -> tuple[float | None, dict[str, float], tuple[float, float] | None, np.ndarray]:
    """(suggestion, candidates, valley as (low, high) rate, smoothed curve) from a sweep (module docstring).

    No suggestion (None) when the loss never falls by more than 5% of its start within the sweep.
    """
    finite = np.isfinite(losses)
    n = int(np.argmin(finite)) if not finite.all() else len(losses)  # up to the first NaN or Inf
    lrs, losses = lrs[:n], losses[:n]
    if n < 5:
        return None, {}, None, losses.astype(np.float64)
    log_lrs = np.log10(lrs)
    values, slopes = smooth(log_lrs, losses.astype(np.float64), smoothing)
    lowest = int(np.argmin(values))
    start = float(values[: max(smoothing // 2, 1)].mean())
    fall = start - float(values[lowest])
    candidates = {"minimum": float(lrs[lowest])}
    if fall <= 0.05 * abs(start) or lowest == 0:
        return None, candidates, None, values
    begins = int(np.argmax(values[: lowest + 1] <= start - 0.1 * fall))
    steepest = begins + int(np.argmin(slopes[begins : lowest + 1]))
    candidates["steepest descent"] = float(f"{lrs[steepest]:.2g}")  # two digits: a rate a person would write
    candidates["minimum / 10"] = float(lrs[lowest] / 10)
    return candidates["steepest descent"], candidates, (float(lrs[begins]), float(lrs[lowest])), values


# ----------------------------------------------------------------------------------------------------------
# Running it
def sweep(
    model: nn.Module,
    loader: Any,
    optimizer: Any,
    loss_fn: Any,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    penalty: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rates tried and the loss of each step, until ``num_iter`` steps or divergence."""
    rates = start_lr * (end_lr / start_lr) ** (np.arange(num_iter) / max(num_iter - 1, 1))
    base = [float(group["lr"]) for group in optimizer.param_groups]
    step = stepper(model, optimizer, loss_fn, penalty)
    losses: list[float] = []
    average, best = 0.0, math.inf
    for i, (lr, (x, y)) in enumerate(zip(rates, cycle(loader), strict=False)):
        set_lr(optimizer, float(lr), base)
        loss, _ = step(x, y)
        losses.append(loss)
        if not math.isfinite(loss):
            break
        average = 0.9 * average + 0.1 * loss  # the stopping rule's running average (bias-corrected)
        smoothed = average / (1 - 0.9 ** (i + 1))
        best = min(best, smoothed)
        if i >= num_iter // 10 and smoothed > DIVERGENCE * best:
            break
    return rates[: len(losses)], np.asarray(losses, dtype=np.float64)


def verify_learning_rates(
    model: nn.Module,
    loader: Any,
    optimizer: Any,
    rates: list[float],
    loss_fn: Any = None,
    *,
    steps: int = 40,
    val_loader: Any = None,
    val_batches: int = 4,
    penalty: Any = None,
) -> list[Trial]:
    """Short real runs, one per rate, each from the current weights on the same batches.

    Each run takes ``steps`` steps of ``optimizer`` at a constant rate, then is measured (eval mode) on
    the first ``val_batches`` batches of ``val_loader`` (of ``loader`` if there is none). Everything is
    restored afterwards.
    """
    loss_fn = default_loss(loss_fn)
    base = [float(group["lr"]) for group in optimizer.param_groups]
    trials = []
    with preserved(model, optimizer, loader) as start:
        held_out = first_batches(val_loader if val_loader is not None else loader, val_batches)
        for lr in rates:
            start.restore()
            set_lr(optimizer, lr, base)
            step = stepper(model, optimizer, loss_fn, penalty)
            losses = []
            for _, (x, y) in zip(range(steps), cycle(loader), strict=False):
                losses.append(step(x, y)[0])
                if not math.isfinite(losses[-1]):
                    break
            if math.isfinite(losses[-1]):
                result = evaluate(model, held_out, loss_fn)
                trials.append(Trial(lr, losses, result.loss, result.accuracy))
            else:
                trials.append(Trial(lr, losses, math.nan, math.nan))
    return trials


def band_of_rates(trials: list[Trial], initial_loss: float, share: float = 0.8) -> list[float]:
    """The rates that train well: their held-out loss gets ``share`` of the way from ``initial_loss``
    down to the best trial's."""
    finite = [t for t in trials if not t.diverged]
    if not finite:
        return []
    best = min(t.val_loss for t in finite)
    return [t.lr for t in finite if initial_loss - t.val_loss >= share * (initial_loss - best)]


def within_band(lr: float, band: list[float], step: float = 10**0.5) -> bool:
    """``lr`` lies in the band measured on a grid of ratio ``step`` (to half a grid step beyond its ends)."""
    return bool(band) and min(band) / step**0.5 <= lr <= max(band) * step**0.5


def lr_find(
    model: nn.Module,
    loader: Any,
    optimizer: Any,
    loss_fn: Any = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    smoothing: int = 9,
    verify: int = 0,
    val_loader: Any = None,
    val_batches: int = 4,
    penalty: Any = None,
) -> RangeTest:
    """The range test on ``model`` with ``optimizer`` (see the module docstring); everything is restored.

    ``verify`` > 0 runs the verification: that many steps at the suggestion, 1/10 and 10 times it
    (``verify_learning_rates``, held-out batches from ``val_loader``). ``penalty`` is a regularization
    term added to the loss minimized, as the Trainer's ``regularization``.
    """
    loss_fn = default_loss(loss_fn)
    configured = float(optimizer.param_groups[0]["lr"])
    with preserved(model, optimizer, loader):
        lrs, losses = sweep(model, loader, optimizer, loss_fn, start_lr, end_lr, num_iter, penalty)
    suggestion, candidates, valley, smoothed = suggest(lrs, losses, smoothing)
    trials: list[Trial] = []
    if verify and suggestion is not None:
        rates = [suggestion / 10, suggestion, suggestion * 10]
        trials = verify_learning_rates(
            model,
            loader,
            optimizer,
            rates,
            loss_fn,
            steps=verify,
            val_loader=val_loader,
            val_batches=val_batches,
            penalty=penalty,
        )
    result = RangeTest(
        "learning-rate range test",
        True,
        "",
        {"num_iter": num_iter, "start_lr": start_lr, "end_lr": end_lr},
        lrs=lrs.tolist(),
        losses=losses.tolist(),
        smoothed=smoothed.tolist(),
        candidates=candidates,
        valley=valley,
        suggestion=suggestion,
        trials=trials,
        configured_lr=configured,
    )
    judge(result)
    return result


def judge(result: RangeTest) -> None:
    """Fill in ``ok``, the message, the causes and the numbers of a range test, in the lectures' words."""
    lrs, losses = result.lrs, result.losses
    stopped = len(lrs) < result.numbers.get("num_iter", len(lrs) + 1) or not math.isfinite(losses[-1])
    exploded = lrs[-1] if lrs and stopped else None
    result.numbers.update(
        suggestion=result.suggestion,
        verified_lr=result.verified_lr,
        configured_lr=result.configured_lr,
        divergence_lr=exploded,
        valley=list(result.valley) if result.valley else None,
        candidates=dict(result.candidates),
        trials=[[t.lr, t.val_loss, t.val_accuracy] for t in result.trials],
    )
    if result.suggestion is None or result.valley is None:
        result.ok = False
        if not losses or not math.isfinite(losses[0]):
            result.message = f"loss explodes to NaN at the smallest rate, {rate(lrs[0] if lrs else math.nan)}"
            result.causes = ["bad initialization: the loss is not a number before the rate matters"]
        else:
            result.message = (
                f"loss not going down at any rate from {rate(lrs[0])} to {rate(lrs[-1])}: no rate helps"
            )
            result.causes = [
                "not a learning-rate problem: bad initialization, a frozen or detached network, dead ReLUs, "
                "or labels that do not match the images (see the other checks)"
            ]
        return
    low, high = result.valley
    steepest, tenth = result.candidates["steepest descent"], result.candidates["minimum / 10"]
    parts = [
        f"suggested lr {rate(result.suggestion)} (steepest descent {rate(steepest)}, minimum / 10 "
        f"{rate(tenth)}); the loss goes down from lr {rate(low)} to {rate(high)}"
        + (f" and explodes by {rate(exploded)}" if exploded else "")
    ]
    if result.trials:
        runs = ", ".join(
            f"{rate(t.lr)}: "
            + ("diverged" if t.diverged else f"loss {t.val_loss:.3g}, acc {100 * t.val_accuracy:.1f}%")
            for t in result.trials
        )
        best = result.verified_lr
        verdict = "the suggestion" if best == result.suggestion else f"{rate(best or math.nan)}"
        parts.append(
            f"verified by {len(result.trials[0].losses)} steps at each of 1/10x, 1x, 10x ({runs}): {verdict} "
            "trains best"
        )
    result.message = "; ".join(parts)
    configured = result.configured_lr
    better = rate(result.verified_lr or result.suggestion)
    result.ok = True
    if configured is not None and exploded is not None and configured >= exploded:
        result.ok = False
        result.causes = [
            f"the configured rate {rate(configured)} is where the loss explodes (by {rate(exploded)}): "
            f"loss explodes to NaN: rate too high; try {better}"
        ]
    elif configured is not None and configured < low:
        result.ok = False
        result.causes = [
            f"the configured rate {rate(configured)} is below where the loss starts going down "
            f"({rate(low)}): loss not going down: rate too low; try {better}"
        ]
