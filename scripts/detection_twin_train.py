"""Train torchvision's twin of ``fasterrcnn_scenes`` with ``ember train --task detect``'s recipe, and measure
it with Ember's ``DetectionMetrics`` on the test scenes: the reference for Ember's own run, on this machine.

Run it in the environment that makes the fixtures (torchvision's compiled operators load there):

    PYTHONPATH=src /work/tvenv/bin/python scripts/detection_twin_train.py OUT [--init torchvision|ember]
        [--epochs 3] [--train 5000] [--test 1000] [--threads 1] [--box-batch-size-per-image 512]

The recipe is the one ``ember train --task detect --lr 0.02 --no-nesterov --schedule onecycle
--schedule-interval step --batch-size 16`` builds: SGD with momentum 0.9 and weight decay 5e-4 on every
parameter, ``OneCycleLR(max_lr=0.02, total_steps=epochs * steps)`` stepped per batch (its defaults: 30% up,
cosine, momentum cycled 0.95 / 0.85), the training scenes shuffled each epoch, the last batch kept (313 steps
an epoch), torchvision's default sampling (256 anchors, 512 RoIs at 25% positives, 2,000 proposals).
``--init ember`` starts from the weights of ``fasterrcnn_scenes`` after ``ember.manual_seed(0)`` (as
``ember train`` makes them), ``--init torchvision`` from torchvision's own initialization
(``torch.manual_seed(0)``). Writes ``OUT.npz`` (the trained weights, Ember's names) and ``OUT.json`` (the
measures, the losses, the time).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from detection_parity import MNIST, their_name, torchvision_twin

import ember
from ember.vision.datasets import Scenes
from ember.vision.detection.faster_rcnn import fasterrcnn_scenes
from ember.vision.detection.metrics import DetectionMetrics

TORCHVISION_SAMPLING = {
    "rpn_batch_size_per_image": 256,
    "rpn_positive_fraction": 0.5,
    "box_batch_size_per_image": 512,
    "box_positive_fraction": 0.25,
    "rpn_pre_nms_top_n_train": 2000,
    "rpn_post_nms_top_n_train": 2000,
}


def targets_of(scenes: Scenes, indices: np.ndarray) -> list[dict[str, torch.Tensor]]:
    found = []
    for i in indices:
        t = scenes.target(int(i))
        found.append(
            {
                "boxes": torch.from_numpy(np.asarray(t["boxes"], np.float32)),
                "labels": torch.from_numpy(np.asarray(t["labels"], np.int64)),
            }
        )
    return found


def evaluate(model: torch.nn.Module, scenes: Scenes, batch: int = 50) -> dict[str, float]:
    model.eval()
    metrics = DetectionMetrics()
    with torch.no_grad():
        for start in range(0, len(scenes), batch):
            indices = np.arange(start, min(start + batch, len(scenes)))
            found = model(list(torch.from_numpy(scenes.images[indices])))
            metrics.update(
                [{k: v.numpy() for k, v in f.items()} for f in found],
                [scenes.target(int(i)) for i in indices],
            )
    result = metrics.compute()
    return {key: float(result[key]) for key in ("map_50", "map", "map_75")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--init", choices=("torchvision", "ember"), default="torchvision")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--box-batch-size-per-image", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision_twin(
        **{**TORCHVISION_SAMPLING, "box_batch_size_per_image": args.box_batch_size_per_image}
    )
    if args.init == "ember":
        ember.manual_seed(0)
        ours = fasterrcnn_scenes()
        model.load_state_dict(
            {their_name(k): torch.from_numpy(np.array(v.array)) for k, v in ours.state_dict().items()}
        )
    train = Scenes(MNIST, size=args.train)
    test = Scenes(MNIST, train=False, size=args.test)
    steps = -(-len(train) // args.batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.02, total_steps=args.epochs * steps)
    rng = np.random.default_rng(0)
    log: list[dict[str, float]] = []
    tick = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        sums: dict[str, float] = {}
        for step in range(steps):
            indices = order[step * args.batch_size : (step + 1) * args.batch_size]
            losses = model(list(torch.from_numpy(train.images[indices])), targets_of(train, indices))
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
            schedule.step()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value.item()
            if step % 50 == 0:
                terms = ", ".join(f"{k[5:]} {v.item():.4f}" for k, v in losses.items())
                seconds = time.perf_counter() - tick
                print(f"epoch {epoch + 1} step {step}: {terms} ({seconds:.0f} s)", flush=True)
        record = {key: value / steps for key, value in sums.items()}
        record["seconds"] = time.perf_counter() - tick
        log.append(record)
        print(f"epoch {epoch + 1}: {record}", flush=True)
    train_seconds = time.perf_counter() - tick
    measured = evaluate(model, test)
    minutes = train_seconds / 60
    print(f"test box mAP@0.5 {measured['map_50']:.4f} mAP {measured['map']:.4f} ({minutes:.1f} min)")
    names = {their_name(k): k for k in fasterrcnn_scenes().state_dict()}
    state = model.state_dict()
    np.savez(args.out + ".npz", **{ours: state[theirs].numpy() for theirs, ours in names.items()})
    with open(args.out + ".json", "w") as handle:
        record = {"args": vars(args), "test": measured, "epochs": log, "train_seconds": train_seconds}
        json.dump(record, handle)


if __name__ == "__main__":
    main()
