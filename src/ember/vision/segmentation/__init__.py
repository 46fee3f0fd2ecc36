"""``ember.vision.segmentation``: semantic segmentation networks (FCN / U-Net, SegNet) and their metrics."""

from ember.vision.segmentation.metrics import SegmentationMetrics, SegmentationResult
from ember.vision.segmentation.models import FCN, SegNet, fcn_unet, segnet

__all__ = ["FCN", "SegNet", "SegmentationMetrics", "SegmentationResult", "fcn_unet", "segnet"]
