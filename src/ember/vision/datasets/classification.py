"""The classification data sets of ``ember.data`` under torchvision's module path
(``torchvision.datasets.MNIST`` -> ``ember.vision.datasets.MNIST``): the same classes, not copies."""

from ember.data.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder

__all__ = ["CIFAR10", "CIFAR100", "MNIST", "FashionMNIST", "ImageFolder"]
