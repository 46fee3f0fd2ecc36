"""``ember.vision.models``: torchvision's model builders with its weights API, on Ember's zoo.

``resnet18(weights=None)`` builds random weights (as torchvision); ``resnet18(weights="DEFAULT")`` or
``weights=ResNet18_Weights.IMAGENET1K_V1`` loads torchvision's published weights from a local file
(``ember.vision.models.weights``: where Ember looks, and the message that says where to put them).
"""

from __future__ import annotations

from typing import Any

from ember import models
from ember.vision.models.weights import Weights, WeightsEnum, WeightsNotFoundError, built, weights_enum

ResNet18_Weights = weights_enum("ResNet18_Weights", IMAGENET1K_V1="resnet18-f37072fd.pth")
ResNet34_Weights = weights_enum("ResNet34_Weights", IMAGENET1K_V1="resnet34-b627a593.pth")
ResNet50_Weights = weights_enum(
    "ResNet50_Weights", IMAGENET1K_V1="resnet50-0676ba61.pth", IMAGENET1K_V2="resnet50-11ad3fa6.pth"
)
ResNet101_Weights = weights_enum(
    "ResNet101_Weights", IMAGENET1K_V1="resnet101-63fe2227.pth", IMAGENET1K_V2="resnet101-cd907fc2.pth"
)
ResNet152_Weights = weights_enum(
    "ResNet152_Weights", IMAGENET1K_V1="resnet152-394f9c45.pth", IMAGENET1K_V2="resnet152-f82ba261.pth"
)
ResNeXt50_32X4D_Weights = weights_enum(
    "ResNeXt50_32X4D_Weights",
    IMAGENET1K_V1="resnext50_32x4d-7cdf4587.pth",
    IMAGENET1K_V2="resnext50_32x4d-1a0047aa.pth",
)
Wide_ResNet50_2_Weights = weights_enum(
    "Wide_ResNet50_2_Weights",
    IMAGENET1K_V1="wide_resnet50_2-95faca4d.pth",
    IMAGENET1K_V2="wide_resnet50_2-9ba9bcbe.pth",
)
VGG11_Weights = weights_enum("VGG11_Weights", IMAGENET1K_V1="vgg11-8a719046.pth")
VGG11_BN_Weights = weights_enum("VGG11_BN_Weights", IMAGENET1K_V1="vgg11_bn-6002323d.pth")
VGG13_Weights = weights_enum("VGG13_Weights", IMAGENET1K_V1="vgg13-19584684.pth")
VGG13_BN_Weights = weights_enum("VGG13_BN_Weights", IMAGENET1K_V1="vgg13_bn-abd245e5.pth")
VGG16_Weights = weights_enum("VGG16_Weights", IMAGENET1K_V1="vgg16-397923af.pth")
VGG16_BN_Weights = weights_enum("VGG16_BN_Weights", IMAGENET1K_V1="vgg16_bn-6c64b313.pth")
VGG19_Weights = weights_enum("VGG19_Weights", IMAGENET1K_V1="vgg19-dcbb9e9d.pth")
VGG19_BN_Weights = weights_enum("VGG19_BN_Weights", IMAGENET1K_V1="vgg19_bn-c79401a0.pth")
AlexNet_Weights = weights_enum("AlexNet_Weights", IMAGENET1K_V1="alexnet-owt-7be5be79.pth")
SqueezeNet1_0_Weights = weights_enum("SqueezeNet1_0_Weights", IMAGENET1K_V1="squeezenet1_0-b66bff10.pth")
SqueezeNet1_1_Weights = weights_enum("SqueezeNet1_1_Weights", IMAGENET1K_V1="squeezenet1_1-b8a52dc0.pth")
DenseNet121_Weights = weights_enum("DenseNet121_Weights", IMAGENET1K_V1="densenet121-a639ec97.pth")
DenseNet161_Weights = weights_enum("DenseNet161_Weights", IMAGENET1K_V1="densenet161-8d451a50.pth")
DenseNet169_Weights = weights_enum("DenseNet169_Weights", IMAGENET1K_V1="densenet169-b2777c0a.pth")
DenseNet201_Weights = weights_enum("DenseNet201_Weights", IMAGENET1K_V1="densenet201-c1103571.pth")
GoogLeNet_Weights = weights_enum("GoogLeNet_Weights", IMAGENET1K_V1="googlenet-1378be20.pth")

# name -> (Ember's constructor, the weights enum): each becomes a builder name(*, weights=None, **kwargs).
BUILDERS = {
    "resnet18": (models.resnet18, ResNet18_Weights),
    "resnet34": (models.resnet34, ResNet34_Weights),
    "resnet50": (models.resnet50, ResNet50_Weights),
    "resnet101": (models.resnet101, ResNet101_Weights),
    "resnet152": (models.resnet152, ResNet152_Weights),
    "resnext50_32x4d": (models.resnext50_32x4d, ResNeXt50_32X4D_Weights),
    "wide_resnet50_2": (models.wide_resnet50_2, Wide_ResNet50_2_Weights),
    "vgg11": (models.vgg11, VGG11_Weights),
    "vgg11_bn": (models.vgg11_bn, VGG11_BN_Weights),
    "vgg13": (models.vgg13, VGG13_Weights),
    "vgg13_bn": (models.vgg13_bn, VGG13_BN_Weights),
    "vgg16": (models.vgg16, VGG16_Weights),
    "vgg16_bn": (models.vgg16_bn, VGG16_BN_Weights),
    "vgg19": (models.vgg19, VGG19_Weights),
    "vgg19_bn": (models.vgg19_bn, VGG19_BN_Weights),
    "alexnet": (models.alexnet, AlexNet_Weights),
    "squeezenet1_0": (models.squeezenet1_0, SqueezeNet1_0_Weights),
    "squeezenet1_1": (models.squeezenet1_1, SqueezeNet1_1_Weights),
    "densenet121": (models.densenet121, DenseNet121_Weights),
    "densenet161": (models.densenet161, DenseNet161_Weights),
    "densenet169": (models.densenet169, DenseNet169_Weights),
    "densenet201": (models.densenet201, DenseNet201_Weights),
    "googlenet": (models.googlenet, GoogLeNet_Weights),
}


def _builder(name: str) -> Any:
    constructor, weights_class = BUILDERS[name]

    def build(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> Any:
        return built(constructor, weights_class, weights, kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's ``{name}``: random weights, or ``weights`` of ``{weights_class.__name__}``."
    )
    return build


resnet18, resnet34, resnet50, resnet101, resnet152 = (
    _builder(n) for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
)
resnext50_32x4d, wide_resnet50_2 = _builder("resnext50_32x4d"), _builder("wide_resnet50_2")
vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn = (
    _builder(n) for n in ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
)
alexnet, squeezenet1_0, squeezenet1_1, googlenet = (
    _builder(n) for n in ("alexnet", "squeezenet1_0", "squeezenet1_1", "googlenet")
)
densenet121, densenet161, densenet169, densenet201 = (
    _builder(n) for n in ("densenet121", "densenet161", "densenet169", "densenet201")
)


def get_model(name: str, **config: Any) -> Any:
    """torchvision's ``get_model("resnet18", weights=None)``."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model '{name}': one of {', '.join(BUILDERS)}")
    return _builder(name)(**config)


def list_models() -> list[str]:
    return list(BUILDERS)


__all__ = ["BUILDERS", "Weights", "WeightsEnum", "WeightsNotFoundError", "get_model", "list_models"]
__all__ += [name for name in dir() if name.endswith("_Weights")] + list(BUILDERS)
