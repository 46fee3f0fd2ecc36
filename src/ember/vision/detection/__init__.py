"""``ember.vision.detection``: object detection's pieces under torchvision's names (anchors, the proposal
matcher and sampler, COCO-style metrics). See ``docs/vision.md``."""

from ember.vision.detection.anchors import AnchorGenerator
from ember.vision.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.detection.metrics import DetectionMetrics

__all__ = ["AnchorGenerator", "BalancedPositiveNegativeSampler", "DetectionMetrics", "Matcher"]
