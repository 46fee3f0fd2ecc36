"""``ember viz``'s folder: one PNG per picture asked for and an ``index.html`` showing them with a note each.

``write_visualizations`` takes a trained model (eval mode), the model inputs of some test images, their
classes and the class names; the command (``ember.cli.viz``) loads them from a run or a checkpoint.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ember import nn
from ember.atomic import atomic_write
from ember.viz import draw, embedding, inside
from ember.viz.page import html_page, section

WHAT = (
    "filters",
    "templates",
    "activations",
    "patches",
    "saliency",
    "occlusion",
    "neighbours",
    "tsne",
    "pca",
)

HEADINGS = {
    "filters": "First-layer filters",
    "templates": "Class templates",
    "activations": "Activation maps",
    "patches": "Top-activating patches",
    "saliency": "Saliency maps",
    "occlusion": "Occlusion sensitivity",
    "neighbours": "Nearest neighbours",
    "tsne": "t-SNE map of the features",
    "pca": "PCA map of the features",
}
NOTES = {
    "filters": "The first layer's weights, each scaled to its own range: edge and blob detectors in a "
    "trained conv net; for a fully connected first layer, each unit's weights over the image (a bank of "
    "templates).",
    "templates": "The gradient of each class score with respect to the pixels at the mean test image. For a "
    "linear classifier this is its row of W: one template per class (red raises the score, blue lowers it).",
    "activations": "The layer's output for one test image, one map per channel: where each filter responds.",
    "patches": "For each channel, the test-image patches that excite it most (Zeiler and Fergus 2014): the "
    "part of the input each unit depends on, strongest first.",
    "saliency": "|d score / d pixel| for the true class (Simonyan et al. 2014): the pixels that change the "
    "score most.",
    "occlusion": "The probability of the true class as a grey square covers each part of the image (Zeiler "
    "and Fergus 2014): dark where covering the image hurts.",
    "neighbours": "Nearest test images to each query: in the classifier's feature space (same class, varied "
    "look) against in pixel space (same look, maybe another class).",
    "tsne": "t-SNE (scikit-learn) of the features the classifier sees: images the network finds similar "
    "land together.",
    "pca": "The features projected on their two principal components: a linear map, less clustered "
    "than t-SNE.",
}


def _default_layer(model: nn.Module, what: str) -> str:
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if names:
        return names[-1] if what == "patches" else names[0]
    if what == "patches":
        raise inside.LayerError("top patches need a conv layer and this model has none")
    return inside.first_weighted(model)[0]


def write_visualizations(
    model: nn.Module,
    inputs: np.ndarray,
    targets: np.ndarray,
    classes: Sequence[str],
    out: str | os.PathLike[str],
    what: Sequence[str] | None = None,
    layer: str | None = None,
    title: str = "",
    seed: int = 0,
) -> Path:
    """Write ``out/<what>.png`` for each picture and ``out/index.html``; returns the page. ``what=None``
    draws every picture the model allows (top patches need a conv layer)."""
    out = Path(out)
    if what is None:
        has_conv = any(isinstance(module, nn.Conv2d) for module in model.modules())
        what = [name for name in WHAT if has_conv or name != "patches"]
    targets = np.asarray(targets)
    size = tuple(inputs.shape[1:])
    pictures: dict[str, Path] = {}
    notes = dict(NOTES)
    examples = np.arange(min(6, len(inputs)))
    for name in what:
        path = pictures[name] = out / f"{name}.png"
        if name == "filters":
            weights = inside.first_weights(model, size)
            first = inside.first_weighted(model)[0]
            draw.plot_filters(weights, path, f"First-layer weights ({first}: {len(weights)} filters)")
        elif name == "templates":
            found = inside.templates(model, inputs.mean(axis=0), len(classes))
            draw.plot_templates(found, classes, path, "One template per class: d score / d pixels")
        elif name in ("activations", "patches"):
            chosen = layer or _default_layer(model, name)
            module = inside.find_layer(model, chosen)
            notes[name] = f"Layer '{chosen}'. " + NOTES[name]
            if name == "activations":
                maps = inside.activations(model, module, inputs[0])
                draw.plot_activations(
                    inputs[0], maps, path, f"Activations of layer '{chosen}' for a test image"
                )
            else:
                patches = inside.top_patches(model, module, inputs)
                title_text = f"Top-activating patches of layer '{chosen}' over {len(inputs)} test images"
                draw.plot_patches(patches.crops(inputs), patches.channels, path, title_text)
        elif name == "saliency":
            maps = inside.saliency(model, inputs[examples], targets[examples])
            captions = [classes[t] for t in targets[examples]]
            draw.plot_maps(inputs[examples], maps, captions, path, "Saliency maps", "|d score / d pixel|")
        elif name == "occlusion":
            maps = np.stack([inside.occlusion(model, inputs[n], int(targets[n])) for n in examples])
            captions = [classes[t] for t in targets[examples]]
            title_text = "Occlusion: probability of the true class with a grey square at each place"
            draw.plot_maps(inputs[examples], maps, captions, path, title_text, "probability")
        elif name == "neighbours":
            found = inside.features(model, inputs)
            queries = examples[:4]
            by_feature = inside.neighbours(found, found[queries], 7)
            by_pixel = inside.neighbours(inputs, inputs[queries], 7)
            draw.plot_neighbours(inputs, by_feature, by_pixel, path, "Nearest neighbours: features vs pixels")
        elif name in embedding.METHODS:
            points = embedding.embed(inside.features(model, inputs), name, seed)
            agreement = embedding.neighbour_agreement(points, targets)
            method = "t-SNE" if name == "tsne" else "PCA"
            notes[name] = (
                f"{NOTES[name]} {100 * agreement:.0f}% of the points have mostly their own class among "
                "their 5 nearest on the map."
            )
            title_text = f"{method} of the classifier's input features, {len(inputs)} test images"
            draw.plot_embedding(points, targets, classes, inputs, path, title_text)
    body = [f"<h1>Inside the network{': ' + html.escape(title) if title else ''}</h1>"]
    body.append(
        f'<p class="subtitle">{len(inputs)} test images; <code>ember viz --what</code> picks the '
        "pictures.</p>"
    )
    for name, path in pictures.items():
        body.append(section(HEADINGS[name], notes[name], path))
    return atomic_write(out / "index.html", html_page(f"Ember viz: {title}", "\n".join(body)))
