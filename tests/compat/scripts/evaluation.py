"""Evaluation idioms of PyTorch's examples and torchvision's reference scripts: top-k accuracy, the MNIST
test loop's count of correct predictions, a confusion matrix from bincount, one-hot targets, and the tensor
functions such scripts call on the way (sort, unique, cumsum, prod, round, nonzero, ...)."""

import torch
import torch.nn.functional as F


def accuracy(output, target, topk=(1,)):
    """Computes the accuracy over the k top predictions for the specified values of k (pytorch/examples
    imagenet/main.py)"""
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)

        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))

        res = []
        for k in topk:
            correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res.append(correct_k.mul_(100.0 / batch_size))
        return res


def reference_accuracy(output, target, topk=(1,)):
    """torchvision references/classification/utils.py, for one-hot (mixup) targets too."""
    with torch.inference_mode():
        maxk = max(topk)
        batch_size = target.size(0)
        if target.ndim == 2:
            target = target.max(dim=1)[1]

        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target[None])

        res = []
        for k in topk:
            correct_k = correct[:k].flatten().sum(dtype=torch.float32)
            res.append(correct_k * (100.0 / batch_size))
        return res


class ConfusionMatrix:
    """torchvision references/segmentation/utils.py"""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.mat = None

    def update(self, a, b):
        n = self.num_classes
        if self.mat is None:
            self.mat = torch.zeros((n, n), dtype=torch.int64, device=a.device)
        with torch.inference_mode():
            k = (a >= 0) & (a < n)
            inds = n * a[k].to(torch.int64) + b[k]
            self.mat += torch.bincount(inds, minlength=n**2).reshape(n, n)

    def compute(self):
        h = self.mat.float()
        acc_global = torch.diag(h).sum() / h.sum()
        acc = torch.diag(h) / h.sum(1)
        iu = torch.diag(h) / (h.sum(1) + h.sum(0) - torch.diag(h))
        return acc_global, acc, iu


output = torch.sin(torch.arange(60.0).reshape(12, 5) * 1.3)
target = torch.arange(12) % 5
top1, top3 = accuracy(output, target, topk=(1, 3))
print(f"Acc@1 {top1.item():.3f} Acc@3 {top3.item():.3f}")
soft_target = F.one_hot(target, num_classes=5).float() * 0.9 + 0.02
print("one-hot", F.one_hot(target).shape, F.one_hot(target).dtype == torch.int64, soft_target.sum().item())
r1, r3 = reference_accuracy(output, soft_target, topk=(1, 3))
print(f"reference Acc@1 {r1.item():.3f} Acc@3 {r3.item():.3f}")

pred = output.argmax(dim=1, keepdim=True)
correct = pred.eq(target.view_as(pred)).sum().item()
print(f"Test set: Accuracy: {correct}/{len(target)} ({100.0 * correct / len(target):.0f}%)")
values, indices = torch.max(output, 1)
print("max", values.sum().item(), indices.tolist())

labels = torch.tensor([0, 1, 2, 2, 1, 0, 255, 2])
predicted = torch.tensor([0, 2, 2, 2, 1, 1, 0, 2])
confmat = ConfusionMatrix(3)
confmat.update(labels.flatten(), predicted.flatten())
print("confusion", confmat.mat.tolist())
acc_global, acc, iu = confmat.compute()
print(f"global correct: {acc_global.item() * 100:.1f} average row correct: {(acc * 100).tolist()}")
print(f"IoU: {(iu * 100).tolist()} mean IoU: {iu.mean().item() * 100:.1f}")

sorted_values, order = output[0].sort(descending=True)
print("sort", sorted_values.tolist(), order.tolist(), output[1].argsort().tolist())
classes, counts = torch.unique(predicted, return_counts=True)
print("unique", classes.tolist(), counts.tolist())
print("cumsum", torch.cumsum(counts, dim=0).tolist(), counts.prod().item())
print(
    "round",
    torch.round(output[2] * 10, decimals=1).tolist(),
    output[3].floor().tolist(),
    output[3].ceil().tolist(),
)
print("nonzero", (predicted == 2).nonzero().flatten().tolist(), torch.count_nonzero(predicted).item())
print(
    "select", output.index_select(1, torch.tensor([4, 0])).shape, output.masked_select(output > 0.9).tolist()
)
print("new", output.new_zeros(2, 2).dtype == torch.float32, target.new_tensor([3]).dtype == torch.int64)
print("roll", torch.roll(target[:5], 2).tolist(), target[:3].repeat_interleave(2).tolist())
print("tril", torch.ones(3, 3).tril().sum().item(), torch.ones(3, 3).triu(1).sum().item())
print("threads", torch.get_num_threads() >= 1, output.is_contiguous(), output.nelement())
