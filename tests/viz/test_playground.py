"""The playground's engine and requests, no browser: each bad request is one message, nothing breaks."""

from __future__ import annotations

import numpy as np
import pytest

from ember.viz import toy
from ember.viz.classify2d import Classifier2D, Settings, SettingsError, check_settings
from ember.viz.playground import Playground, PortError, free_socket


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": 1e9}, "the learning rate (lr) must be between 1e-06 and 10, not 1e+09"),
        ({"width": 100000}, "width must be between 1 and 128, not 100000"),
        ({"layers": 2.5}, "hidden layers must be a whole number, not 2.5"),
        ({"l2": "strong"}, "the L2 strength (l2) must be a number, not 'strong'"),
        ({"l2": float("nan")}, "the L2 strength (l2) must be a number, not nan"),
        ({"activation": "gelu"}, "activation must be one of relu, tanh, sigmoid, not 'gelu'"),
        (
            {"depth": 3},
            "unknown setting 'depth'; the settings are activation, l2, layers, lr, optimizer, seed, width",
        ),
    ],
)
def test_a_bad_setting_is_named_with_its_range(changes, message):
    with pytest.raises(SettingsError) as caught:
        check_settings(Settings(), changes)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("nonsense", {}, "unknown request /nonsense; the page sends /settings, /point, /dataset, /reset"),
        ("settings", [1], "malformed request: /settings takes a JSON object, not list"),
        ("point", {"x": 0.1}, "malformed request: /point takes x, y and label; 'y' is missing"),
        ("point", {"x": "a", "y": 0, "label": 0}, "malformed request: /point takes numbers x, y and label"),
        (
            "point",
            {"x": 3, "y": 0, "label": 0},
            "a point needs x and y in [-1, 1] and a class 0 or 1, not (3.0, 0.0, 0)",
        ),
        ("dataset", {"name": "moons"}, "unknown data set 'moons'; choose one of spiral, circles, xor, blobs"),
    ],
)
def test_a_bad_request_is_one_message_and_changes_nothing(action, body, message):
    playground = Playground("blobs")
    before = playground.state
    with pytest.raises(SettingsError) as caught:
        playground.apply(action, body)
    assert str(caught.value) == message
    assert playground.state == before


def test_points_datasets_and_settings_change_the_state():
    playground = Playground("xor")
    playground.apply("point", {"x": 0.5, "y": -0.25, "label": 1})
    assert len(playground.classifier.points) == 201 and playground.classifier.labels[-1] == 1
    playground.apply("settings", {"l2": 0.1, "lr": 0.05})  # keeps the network
    weights = playground.classifier.model[0].weight
    playground.apply("settings", {"width": 8})  # a new network
    assert playground.classifier.model[0].weight is not weights and playground.classifier.steps == 0
    playground.apply("dataset", {"name": "circles"})
    assert playground.classifier.dataset == "circles" and len(playground.classifier.points) == 200


def test_a_diverging_rate_reinitializes_the_network_and_says_so():
    classifier = Classifier2D("spiral")
    classifier.train(3)
    classifier.model[0].weight.data.fill_(float("inf"))  # what a rate far too high leads to
    classifier.train(3)
    assert classifier.diverged and classifier.steps == 0
    assert np.isfinite(classifier.field(8)).all()


def test_every_data_set_has_both_classes_inside_the_square():
    for name in toy.DATASETS:
        points, labels = toy.make_points(name, 100)
        assert points.shape == (100, 2) and np.abs(points).max() <= 1 and set(labels.tolist()) == {0, 1}


def test_a_taken_port_is_one_message():
    taken = free_socket()
    try:
        port = taken.getsockname()[1]
        with pytest.raises(PortError, match=f"cannot listen on 127.0.0.1:{port} .*pick another --port"):
            free_socket(port)
    finally:
        taken.close()
