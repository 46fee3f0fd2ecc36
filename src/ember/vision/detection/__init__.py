"""``ember.vision.detection``: object detection's pieces under torchvision's names (anchors, the proposal
matcher and sampler, COCO-style metrics), the two-stage detectors (Faster R-CNN, Mask R-CNN; zoo:
``fasterrcnn_scenes``, ``maskrcnn_scenes``) and a YOLO v1-style grid detector (zoo: ``yolo``). Importing it
registers all three in the zoo. See ``docs/vision.md``."""

from ember.vision.detection.anchors import AnchorGenerator
from ember.vision.detection.faster_rcnn import FasterRCNN
from ember.vision.detection.mask_rcnn import MaskRCNN
from ember.vision.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.detection.metrics import DetectionMetrics
from ember.vision.detection.yolo import YOLO, yolo_loss

__all__ = [
    "YOLO",
    "AnchorGenerator",
    "BalancedPositiveNegativeSampler",
    "DetectionMetrics",
    "FasterRCNN",
    "MaskRCNN",
    "Matcher",
    "yolo_loss",
]
