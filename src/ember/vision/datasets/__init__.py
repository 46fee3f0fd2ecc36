"""``ember.vision.datasets``: torchvision's data sets (``torchvision.datasets``)."""

from ember.vision.datasets.classification import CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder

__all__ = ["CIFAR10", "CIFAR100", "MNIST", "FashionMNIST", "ImageFolder"]
