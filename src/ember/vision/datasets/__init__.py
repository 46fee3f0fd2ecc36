"""``ember.vision.datasets``: torchvision's data sets (``torchvision.datasets``) and the scenes data set of
the tasks beyond classification."""

from ember.vision.datasets.classification import CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder
from ember.vision.datasets.scenes import Scenes

__all__ = ["CIFAR10", "CIFAR100", "MNIST", "FashionMNIST", "ImageFolder", "Scenes"]
