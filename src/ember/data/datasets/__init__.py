"""Data sets with torchvision's names: MNIST, Fashion-MNIST, CIFAR-10/100 (in memory) and ImageFolder."""

from ember.data.datasets.cifar import CIFAR10, CIFAR100
from ember.data.datasets.image_folder import ImageFolder
from ember.data.datasets.mnist import MNIST, FashionMNIST

__all__ = ["CIFAR10", "CIFAR100", "MNIST", "FashionMNIST", "ImageFolder"]
