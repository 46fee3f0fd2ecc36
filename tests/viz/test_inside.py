"""The numbers behind ember viz's pictures: each checked against what it must be, not against pixels."""

from __future__ import annotations

import numpy as np
import pytest

from ember import nn
from ember.viz import embedding, inside


def linear_classifier(seed: int = 0) -> nn.Sequential:
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 5, 3))
    model[1].weight.array[...] = np.random.default_rng(seed).normal(size=(3, 50)).astype(np.float32)
    return model.eval()


def images(count: int, shape: tuple[int, ...] = (2, 5, 5), seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, *shape)).astype(np.float32)


def test_a_linear_classifiers_templates_are_its_rows_of_w():
    model = linear_classifier()
    found = inside.templates(model, images(4).mean(axis=0), 3)
    np.testing.assert_allclose(found, model[1].weight.array.reshape(3, 2, 5, 5), rtol=1e-6)
    np.testing.assert_array_equal(inside.first_weights(model, (2, 5, 5)), found)


def test_saliency_is_the_largest_absolute_weight_over_channels_for_a_linear_classifier():
    model = linear_classifier()
    targets = np.array([2, 0])
    expected = np.abs(model[1].weight.array.reshape(3, 2, 5, 5))[targets].max(axis=1)
    np.testing.assert_allclose(inside.saliency(model, images(2), targets), expected, rtol=1e-6)


def test_occlusion_changes_nothing_where_the_model_does_not_look():
    model = linear_classifier()
    weight = model[1].weight.array.reshape(3, 2, 5, 5)
    weight[:, :, 2:, :] = 0  # the classifier looks at the top two rows only
    image = images(1)[0]
    found = inside.occlusion(model, image, target=1, patch=2, stride=1, fill=0.0)
    assert found.shape == (4, 4)
    scores = model[1].weight.array @ image.ravel() + model[1].bias.array
    untouched = np.exp(scores[1]) / np.exp(scores).sum()
    np.testing.assert_allclose(found[2:], untouched, rtol=1e-5)  # patches below row 2
    covered = image.copy()
    covered[:, 0:2, 1:3] = 0.0
    scores = model[1].weight.array @ covered.ravel() + model[1].bias.array
    np.testing.assert_allclose(found[0, 1], np.exp(scores[1]) / np.exp(scores).sum(), rtol=1e-5)
    assert not np.allclose(found[0], untouched)


def test_top_patches_are_the_strongest_units_and_the_input_they_depend_on():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    data = images(6, (1, 9, 9))
    found = inside.top_patches(model, model[1], data, channels=2, k=3)
    maps = inside.layer_output(model, model[1], data)
    for c in range(2):
        np.testing.assert_allclose(found.value[c], np.sort(maps[:, c].ravel())[::-1][:3], rtol=1e-6)
    heights = found.box[..., 2] - found.box[..., 0]
    widths = found.box[..., 3] - found.box[..., 1]
    assert (heights == 5).all() and (widths == 5).all()  # two 3x3 convs: a 5x5 receptive field
    first = found.crops(data)[0][0]
    assert first.shape == (1, 5, 5)


def test_activations_and_features_read_the_layer_and_the_classifiers_input():
    model = nn.Sequential(nn.Flatten(), nn.Linear(50, 7), nn.ReLU(), nn.Linear(7, 3)).eval()
    data = images(5)
    hidden = inside.features(model, data)
    assert hidden.shape == (5, 7) and (hidden >= 0).all()
    np.testing.assert_array_equal(inside.activations(model, model[2], data[0]), hidden[0])


def test_a_missing_layer_is_named_with_the_layers_there_are():
    model = linear_classifier()
    with pytest.raises(inside.LayerError, match=r"no layer 'conv9'; its layers are 0, 1"):
        inside.find_layer(model, "conv9")
    with pytest.raises(ValueError, match="need a layer with"):
        inside.top_patches(model, model[1], images(2))


def test_neighbours_match_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    data = images(40).reshape(40, -1)
    found = inside.neighbours(data, data[:5], 4)
    expected = NearestNeighbors(n_neighbors=4).fit(data).kneighbors(data[:5], return_distance=False)
    np.testing.assert_array_equal(found, expected)
    assert (found[:, 0] == np.arange(5)).all()


def test_tsne_and_pca_keep_separated_classes_apart():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 30)
    centres = rng.normal(size=(3, 40)) * 10
    features = centres[labels] + rng.normal(size=(90, 40))
    for method in embedding.METHODS:
        points = embedding.embed(features, method, seed=0)
        assert points.shape == (90, 2)
        assert embedding.neighbour_agreement(points, labels) == 1.0
    shuffled = rng.permutation(labels)
    assert embedding.neighbour_agreement(embedding.pca(features), shuffled) < 0.7
