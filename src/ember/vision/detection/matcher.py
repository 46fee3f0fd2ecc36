"""Assigning proposals to ground truth and sampling them for training (Faster R-CNN), torchvision's
``Matcher`` and ``BalancedPositiveNegativeSampler``.

``Matcher(high, low, allow_low_quality_matches)`` reads an (M ground-truth x N proposal) quality matrix
(IoU): each proposal takes the ground-truth box it overlaps most (the first one on ties); with best quality
``>= high`` it keeps that index, in ``[low, high)`` it gets ``BETWEEN_THRESHOLDS`` (-2, ignored in training)
and below ``low`` ``BELOW_LOW_THRESHOLD`` (-1, background). With ``allow_low_quality_matches`` every
ground-truth box also gets the proposals of its own highest quality (all of them, on ties) back, matched to
their best box, even under the thresholds: the RPN's rule that every object has at least one anchor. (As in
torchvision, a box that overlaps no proposal at all has highest quality 0, and then every proposal with
quality 0 to it gets its own best match back; a proposal overlapping nothing keeps index 0.)

``BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)`` takes per image the labels of
the proposals (>= 1 positive, 0 negative, -1 ignored) and draws, uniformly without replacement,
``min(#positives, int(batch_size_per_image * positive_fraction))`` positives and as many negatives as fill the
rest of the batch (as many as there are); it returns two uint8 masks per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError
from ember.random import Generator, numpy_generator


class MatcherError(EmberError, ValueError):
    """An empty quality matrix (no ground truth or no proposals), or thresholds in the wrong order."""


def _values(x: Any) -> np.ndarray:
    return x.array if isinstance(x, Tensor) else np.asarray(x)


class Matcher:
    """Each proposal's ground-truth index, or -1 (below ``low_threshold``) or -2 (between the thresholds)."""

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(
        self, high_threshold: float, low_threshold: float, allow_low_quality_matches: bool = False
    ) -> None:
        if low_threshold > high_threshold:
            raise MatcherError(
                f"Matcher: low_threshold ({low_threshold}) must be <= high_threshold ({high_threshold})"
            )
        self.high_threshold, self.low_threshold = high_threshold, low_threshold
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix: Any) -> Tensor:
        quality = _values(match_quality_matrix)
        if quality.ndim != 2:
            raise MatcherError(f"Matcher: expected an (M, N) quality matrix, got shape {quality.shape}")
        if quality.size == 0:
            missing = "ground-truth boxes" if quality.shape[0] == 0 else "proposal boxes"
            raise MatcherError(f"Matcher: no {missing} available for one of the images during training")
        matches = quality.argmax(axis=0)  # the first maximum on ties
        matched = quality[matches, np.arange(quality.shape[1])]
        result = matches.copy()
        result[matched < self.low_threshold] = self.BELOW_LOW_THRESHOLD
        result[(matched >= self.low_threshold) & (matched < self.high_threshold)] = self.BETWEEN_THRESHOLDS
        if self.allow_low_quality_matches:
            best_per_gt = quality.max(axis=1)
            restored = np.nonzero(quality == best_per_gt[:, None])[1]
            result[restored] = matches[restored]
        return Tensor(result.astype(np.int64))


class BalancedPositiveNegativeSampler:
    """Per image, a balanced sample of positive and negative proposals, as two uint8 masks."""

    def __init__(
        self, batch_size_per_image: int, positive_fraction: float, generator: Generator | None = None
    ) -> None:
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, positive_fraction
        self.generator = generator

    def __call__(self, matched_idxs: Sequence[Any]) -> tuple[list[Tensor], list[Tensor]]:
        rng = numpy_generator(self.generator)
        pos_masks, neg_masks = [], []
        for labels in matched_idxs:
            values = _values(labels).reshape(-1)
            positive, negative = np.flatnonzero(values >= 1), np.flatnonzero(values == 0)
            num_pos = min(len(positive), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(len(negative), self.batch_size_per_image - num_pos)
            pos_mask = np.zeros(len(values), dtype=np.uint8)
            neg_mask = np.zeros(len(values), dtype=np.uint8)
            pos_mask[rng.permutation(positive)[:num_pos]] = 1
            neg_mask[rng.permutation(negative)[:num_neg]] = 1
            pos_masks.append(Tensor(pos_mask))
            neg_masks.append(Tensor(neg_mask))
        return pos_masks, neg_masks
