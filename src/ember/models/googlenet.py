"""GoogLeNet, Inception v1 (Szegedy et al. 2015, "Going deeper with convolutions").

22 layers, no big fully connected layers, 5M parameters in the paper's version (12x fewer than AlexNet).
The Inception module runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by side and concatenates
their outputs along the channels; 1x1 convolutions in front of the 3x3 and 5x5 ones (and after the pool)
are the "bottleneck" that reduces the depth first, which keeps the cost of the wide module affordable.

Auxiliary classifiers: gradients carry less and less information the deeper they travel back, so two
small classifiers hang off inception 4a and 4d; during training the total loss is a weighted sum,
main + 0.3 (aux1 + aux2) in the paper (``AuxiliaryLoss``), and at test time they are ignored. In training
mode with ``aux_logits=True`` the model returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``,
torchvision's named tuple (note its order: aux2 before aux1); in eval mode, the logits alone.

Structure, names and initialization (truncated N(0, 0.01) for conv and linear weights) are torchvision's,
so weights interchange. torchvision departs from the paper in two ways that Ember keeps by default:
every conv is followed by batch norm (eps 0.001), which the paper did not have (it used LRN after the
stem), and the "5x5" branch uses a 3x3 kernel (pytorch/vision issue 906). ``branch3_kernel_size=5`` gives the
paper's 5x5 (then torchvision's weights no longer load).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import ConvBNReLU, initialize
from ember.models.registry import register_model
from ember.nn import init

BasicConv2d = partial(ConvBNReLU, eps=0.001)


class GoogLeNetOutputs(NamedTuple):
    logits: Tensor
    aux_logits2: Tensor | None
    aux_logits1: Tensor | None


class Inception(nn.Module):
    """Four branches concatenated: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        branch3_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        size = branch3_kernel_size
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=size, padding=size // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return ops.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool -> 1x1 conv 128 -> FC 1024 -> ReLU -> dropout 0.7 -> FC."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = ops.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of the paper's Table 1.
INCEPTION_3 = {"inception3a": (192, 64, 96, 128, 16, 32, 32), "inception3b": (256, 128, 128, 192, 32, 96, 64)}
INCEPTION_4 = {
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
}
INCEPTION_5 = {
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        branch3_kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for stage, pool in ((INCEPTION_3, "maxpool3"), (INCEPTION_4, "maxpool4"), (INCEPTION_5, None)):
            for name, widths in stage.items():
                setattr(self, name, Inception(*widths, branch3_kernel_size=branch3_kernel_size))
            if pool is not None:
                size = 3 if pool == "maxpool3" else 2
                setattr(self, pool, nn.MaxPool2d(size, stride=2, ceil_mode=True))
        self.aux1: InceptionAux | None = InceptionAux(512, num_classes, dropout_aux) if aux_logits else None
        self.aux2: InceptionAux | None = InceptionAux(528, num_classes, dropout_aux) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        truncated = partial(init.trunc_normal_, mean=0.0, std=0.01, a=-2.0, b=2.0)
        initialize(self, conv=truncated, conv_bias=None, linear=truncated, linear_bias=None)

    def _transform(self, x: Tensor) -> Tensor:
        """torchvision's pretrained weights expect ImageNet-normalized inputs mapped to [-1, 1]."""
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        channels = [x[:, c : c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)]
        return ops.cat(channels, 1)

    def forward(self, x: Tensor) -> Any:
        if self.transform_input:
            x = self._transform(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        with_aux = self.training and self.aux1 is not None and self.aux2 is not None
        aux1 = self.aux1(x) if with_aux and self.aux1 is not None else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux and self.aux2 is not None else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(ops.flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(logits, aux2, aux1) if with_aux else logits


class AuxiliaryLoss(nn.Module):
    """main + aux_weight (aux1 + aux2): the paper's training loss for a network with auxiliary classifiers.

    Takes what the model returns: a ``GoogLeNetOutputs`` (its auxiliary terms are added) or plain logits
    (the criterion alone), so a trainer can use it for any model.
    """

    def __init__(self, criterion: nn.Module | None = None, aux_weight: float = 0.3) -> None:
        super().__init__()
        self.criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
        self.aux_weight = aux_weight

    def forward(self, outputs: Any, target: Tensor) -> Tensor:
        if not isinstance(outputs, GoogLeNetOutputs):
            return self.criterion(outputs, target)
        loss = self.criterion(outputs.logits, target)
        for aux in (outputs.aux_logits1, outputs.aux_logits2):
            if aux is not None:
                loss = loss + self.aux_weight * self.criterion(aux, target)
        return loss


@register_model(
    "GoogLeNet / Inception v1 with 2 auxiliary classifiers (Szegedy et al. 2015), torchvision's", min_size=15
)
def googlenet(num_classes: int = 1000, in_channels: int = 3, **options: Any) -> GoogLeNet:
    return GoogLeNet(num_classes, in_channels, **options)
