"""The architecture zoo: the networks of the lectures, built from Ember's layers.

``ember.models.create("resnet20", num_classes=10)`` builds one by name, ``ember.models.list()`` names them
all with a one-line description, ``ember.summary(model, (3, 224, 224))`` tabulates a model layer by layer,
and ``ember.models.convert`` moves weights to and from PyTorch/torchvision as safetensors. Models that
torchvision also has use its structure and state-dict keys, so their weights interchange.
"""

from ember.models.alexnet import AlexNet, alexnet, alexnet_original
from ember.models.densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from ember.models.googlenet import AuxiliaryLoss, GoogLeNet, GoogLeNetOutputs, googlenet
from ember.models.inception import (
    InceptionFactorizedA,
    InceptionFactorizedB,
    InceptionNet,
    inception_factorized,
)
from ember.models.lenet import LeNet5, lenet5
from ember.models.mobilenet import DepthwiseSeparable, MobileNet, mobilenet_v1
from ember.models.registry import create, list_models, register_model, variant
from ember.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from ember.models.resnet_cifar import (
    PreActBasicBlock,
    PreActBottleneck,
    preact_resnet20,
    preact_resnet110,
    preact_resnet164,
    preact_resnet1001,
    resnet20,
    resnet32,
    resnet44,
    resnet56,
    resnet110,
)
from ember.models.resnext import (
    resnext29_8x64d,
    resnext29_16x64d,
    resnext50_32x4d,
    resnext101_32x8d,
    resnext101_64x4d,
)
from ember.models.senet import (
    SEBasicBlock,
    SEBottleneck,
    SqueezeExcitation,
    se_resnet18,
    se_resnet20,
    se_resnet34,
    se_resnet50,
    se_resnet56,
    se_resnet101,
    se_resnet152,
)
from ember.models.small import SmallCNN, mlp, small_cnn
from ember.models.squeezenet import Fire, SqueezeNet, squeezenet1_0, squeezenet1_1
from ember.models.vgg import (
    VGG,
    make_layers,
    vgg11,
    vgg11_bn,
    vgg11_lrn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg16_c,
    vgg19,
    vgg19_bn,
)
from ember.models.wide_resnet import (
    wide_resnet,
    wide_resnet50_2,
    wide_resnet101_2,
    wrn16_4,
    wrn16_8,
    wrn28_10,
    wrn40_4,
)
from ember.models.zfnet import zfnet

list = list_models
