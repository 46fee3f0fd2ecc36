"""``ember.vision.detection``: object detection's pieces under torchvision's names (anchors, the proposal
matcher and sampler, COCO-style metrics) and a YOLO v1-style grid detector (zoo: ``yolo``). See
``docs/vision.md``."""

from ember.vision.detection.anchors import AnchorGenerator
from ember.vision.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.detection.metrics import DetectionMetrics
from ember.vision.detection.yolo import YOLO, yolo_loss

__all__ = [
    "YOLO",
    "AnchorGenerator",
    "BalancedPositiveNegativeSampler",
    "DetectionMetrics",
    "Matcher",
    "yolo_loss",
]
