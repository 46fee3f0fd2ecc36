"""The lectures' worked numbers, computed by Ember (seeds 000, 001 and 003 of the course notes).

- Multiclass SVM loss on the cat/car/frog scores: 2.9, 0 and 12.9 per example, 5.27 on average.
- Softmax of the cat example: 0.13 / 0.87 / 0.00 and cross-entropy 2.04 (natural log: -ln 0.13 = 2.04).
- The 2-2-2 sigmoid network worked by hand (Matt Mazur's "A Step by Step Backpropagation Example"):
  E_total = 0.298371109, and one SGD step at learning rate 0.5 gives w1 = 0.149780716, w5 = 0.35891648.
- The weight-initialization experiment: 10 tanh layers of 500 units with N(0, 0.01^2) weights collapse;
  Kaiming initialization with ReLU keeps every layer's standard deviation near 1.
"""

import itertools

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn import init

# The slide's table has one column per example; here one row per example (cat image, car image, frog image).
SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], np.float32)
LABELS = np.array([0, 1, 2])  # cat, car, frog


def test_svm_loss_of_the_three_examples():
    per_example = F.svm_loss(ember.tensor(SCORES), ember.tensor(LABELS), reduction="none")
    np.testing.assert_allclose(per_example.array, [2.9, 0.0, 12.9], atol=1e-5)
    average = nn.SVMLoss()(ember.tensor(SCORES), ember.tensor(LABELS)).item()
    assert round(average, 2) == 5.27
    np.testing.assert_allclose(average, (2.9 + 0 + 12.9) / 3, rtol=1e-6)


def test_softmax_and_cross_entropy_of_the_cat_example():
    cat = ember.tensor(SCORES[:1])
    unnormalized = ember.exp(cat).array[0]
    assert [round(float(v), d) for v, d in zip(unnormalized, (1, 1, 2), strict=True)] == [24.5, 164.0, 0.18]
    probabilities = F.softmax(cat, dim=1).array[0]
    assert [round(float(p), 2) for p in probabilities] == [0.13, 0.87, 0.00]
    loss = F.cross_entropy(cat, ember.tensor([0])).item()
    assert round(loss, 2) == 2.04
    np.testing.assert_allclose(loss, -np.log(probabilities[0]), rtol=1e-6)


def mazur_network(dtype):
    """Inputs i1, i2 -> hidden h1, h2 -> outputs o1, o2, sigmoid everywhere.

    The worked example's layout: net_h1 = w1 i1 + w2 i2 + b1, net_h2 = w3 i1 + w4 i2 + b1, net_o1 = w5 out_h1
    + w6 out_h2 + b2, net_o2 = w7 out_h1 + w8 out_h2 + b2; so in PyTorch's (out, in) layout the hidden
    weight is [[w1, w2], [w3, w4]] and the output weight [[w5, w6], [w7, w8]], one bias shared per layer.
    """
    hidden, output = nn.Linear(2, 2, dtype=dtype), nn.Linear(2, 2, dtype=dtype)
    hidden.weight.array[...] = [[0.15, 0.20], [0.25, 0.30]]
    hidden.bias.array[...] = 0.35
    output.weight.array[...] = [[0.40, 0.45], [0.50, 0.55]]
    output.bias.array[...] = 0.60
    return nn.Sequential(hidden, nn.Sigmoid(), output, nn.Sigmoid())


@pytest.mark.parametrize("dtype, places", [(ember.float64, 9), (ember.float32, 6)])
def test_backpropagation_worked_example(dtype, places):
    model = mazur_network(dtype)
    x = ember.tensor([[0.05, 0.10]], dtype=dtype)
    target = ember.tensor([[0.01, 0.99]], dtype=dtype)
    out = model(x)
    error = F.mse_loss(out, target, reduction="sum") / 2  # E_total = sum 1/2 (target - out)^2
    np.testing.assert_allclose(model[1](model[0](x)).array[0], [0.593269992, 0.596884378], atol=10**-places)
    np.testing.assert_allclose(out.array[0], [0.75136507, 0.772928465], atol=10**-places)
    assert round(error.item(), places) == round(0.298371109, places)
    error.backward()
    hidden, output = model[0].weight, model[2].weight
    # dE/dw1 = 0.000438568 (the notes' hand calculation, 0.000416015, slips: it takes w6 = 0.55 where the
    # path from h1 to o2 runs through w7 = 0.50, and multiplies by the output layer's local gradients)
    np.testing.assert_allclose(hidden.grad.array[0, 0], 0.000438568, atol=10 ** -(places - 1))
    with ember.no_grad():  # one SGD step on the weights (the worked example leaves the biases alone)
        for weight in (hidden, output):
            weight -= 0.5 * weight.grad
    w1, w2, w3, w4 = hidden.array.ravel()
    w5, w6, w7, w8 = output.array.ravel()
    assert round(float(w1), places) == round(0.149780716, places)
    assert round(float(w5), min(places, 8)) == round(0.35891648, min(places, 8))
    expected_rest = [0.19956143, 0.24975114, 0.29950229, 0.408666186, 0.511301270, 0.561370121]
    np.testing.assert_allclose([w2, w3, w4, w6, w7, w8], expected_rest, atol=10 ** -min(places, 8))


def layer_stds(initialize, activation, generator_seed=0):
    """Forward 1000 unit-Gaussian inputs through 10 layers of 500 units; the std of each layer's output."""
    generator = ember.Generator(generator_seed)
    x = init.normal_(ember.empty(1000, 500), generator=generator)
    stds = []
    with ember.no_grad():
        for _ in range(10):
            layer = nn.Linear(500, 500, bias=False)
            initialize(layer.weight, generator)
            x = activation(layer(x))
            stds.append(float(x.array.std()))
    return stds


def test_small_random_weights_make_tanh_activations_collapse():
    stds = layer_stds(lambda w, g: init.normal_(w, 0.0, 0.01, generator=g), nn.Tanh())
    assert stds[-1] < 1e-4
    assert all(later < earlier for earlier, later in itertools.pairwise(stds))
    np.testing.assert_allclose(stds[0], 0.213, rtol=0.05)  # the notes print 0.213081 for layer 1


def test_kaiming_initialization_keeps_relu_activations_alive():
    stds = layer_stds(lambda w, g: init.kaiming_normal_(w, nonlinearity="relu", generator=g), nn.ReLU())
    assert all(0.5 <= s <= 1.5 for s in stds), stds
