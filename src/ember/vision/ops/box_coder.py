"""Box coding for regression: a box relative to a reference box as (dx, dy, log dw, log dh).

R-CNN's parametrization (Girshick et al. 2014, Fast/Faster R-CNN after it), torchvision's ``BoxCoder``:
for a proposal P (centre px, py, size pw, ph) and its ground-truth box G,
``tx = wx (gx - px) / pw``, ``ty = wy (gy - py) / ph``, ``tw = ww log(gw / pw)``, ``th = wh log(gh / ph)``.
The weights scale the targets to comparable magnitudes (Faster R-CNN's heads use (10, 10, 5, 5)). Decoding
inverts it; ``dw`` and ``dh`` are clamped at ``log(1000 / 16)`` first, so that a wild prediction cannot
overflow ``exp``. Both directions are written with differentiable operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ember.autograd import Tensor
from ember.ops import cat, clamp, exp, log, split, stack
from ember.vision.ops.boxes import as_boxes

BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _centres(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights, widths, heights


class BoxCoder:
    """Encode boxes against reference boxes and decode regression outputs back (torchvision's names)."""

    def __init__(self, weights: Sequence[float], bbox_xform_clip: float = BBOX_XFORM_CLIP) -> None:
        if len(weights) != 4:
            raise ValueError(f"BoxCoder: weights are (wx, wy, ww, wh), got {tuple(weights)}")
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = bbox_xform_clip

    def encode_single(self, reference_boxes: Any, proposals: Any) -> Tensor:
        """(N, 4) targets (dx, dy, dw, dh) that take each proposal to its reference (ground-truth) box."""
        gx, gy, gw, gh = _centres(as_boxes(reference_boxes, "reference_boxes"))
        px, py, pw, ph = _centres(as_boxes(proposals, "proposals"))
        wx, wy, ww, wh = self.weights
        targets = (wx * (gx - px) / pw, wy * (gy - py) / ph, ww * log(gw / pw), wh * log(gh / ph))
        return stack(targets, dim=1)

    def encode(self, reference_boxes: Sequence[Any], proposals: Sequence[Any]) -> tuple[Tensor, ...]:
        """``encode_single`` over lists (one entry per image), split back per image."""
        counts = [len(boxes) for boxes in reference_boxes]
        joined = self.encode_single(
            cat([as_boxes(b) for b in reference_boxes]), cat([as_boxes(p) for p in proposals])
        )
        return split(joined, counts)

    def decode_single(self, rel_codes: Tensor, boxes: Any) -> Tensor:
        """Boxes (N, 4k) from codes (N, 4k) relative to ``boxes`` (N, 4) (k sets of codes per box)."""
        cx, cy, widths, heights = _centres(as_boxes(boxes))
        wx, wy, ww, wh = self.weights
        dx, dy = rel_codes[:, 0::4] / wx, rel_codes[:, 1::4] / wy
        dw = clamp(rel_codes[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = clamp(rel_codes[:, 3::4] / wh, max=self.bbox_xform_clip)
        centre_x = dx * widths[:, None] + cx[:, None]
        centre_y = dy * heights[:, None] + cy[:, None]
        half_w = 0.5 * (exp(dw) * widths[:, None])
        half_h = 0.5 * (exp(dh) * heights[:, None])
        corners = (centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h)
        return stack(corners, dim=2).reshape(rel_codes.shape[0], -1)

    def decode(self, rel_codes: Tensor, boxes: Sequence[Any]) -> Tensor:
        """``decode_single`` over the boxes of every image at once: (sum N_i, k, 4)."""
        joined = cat([as_boxes(b) for b in boxes])
        total = joined.shape[0]
        return self.decode_single(rel_codes.reshape(total, -1), joined).reshape(total, -1, 4)
