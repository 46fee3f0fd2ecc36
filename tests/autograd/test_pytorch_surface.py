"""What a PyTorch user reads off a tensor: ``grad_fn`` names and ``next_functions``, ``Size``,
``__format__``."""

from __future__ import annotations

import pickle

import pytest
import torch

import ember


def _graph(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    x = lib.tensor([3.0, 4.0])
    return w, (w * x).sum()


def test_grad_fn_names_are_pytorchs():
    _, loss = _graph(ember)
    assert loss.grad_fn.name() == "SumBackward0"
    assert repr(loss).endswith("grad_fn=<SumBackward0>)")
    assert repr(loss.grad_fn).startswith("<SumBackward0 object at 0x")


def test_next_functions_walk_the_graph_to_accumulate_grad_as_in_pytorch():
    def names(node):
        return [None if n is None else n.name().split("::")[-1] for n, _ in node.next_functions]

    for lib in (ember, torch):
        w, loss = _graph(lib)
        (mul, index), *_ = loss.grad_fn.next_functions
        assert index == 0 and mul.name() == "MulBackward0"
        assert names(mul) == ["AccumulateGrad", None]
        assert mul.next_functions[0][0].variable is w


def test_size_is_a_tuple_that_prints_as_pytorchs():
    x = ember.zeros(2, 3, 4)
    assert isinstance(x.size(), ember.Size) and isinstance(x.shape, tuple)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.shape[-1] == 4
    assert (
        repr(x.shape) == "ember.Size([2, 3, 4])"
        and repr(torch.zeros(2, 3, 4).shape) == "torch.Size([2, 3, 4])"
    )
    assert isinstance(x.shape[1:], ember.Size) and x.shape[1:] == (3, 4)
    assert x.shape.numel() == 24 == torch.Size([2, 3, 4]).numel()
    grown = ember.Size([2, 3]) + (4,)  # noqa: RUF005 - the operator under test
    assert grown == (2, 3, 4) and isinstance(grown, ember.Size)
    assert pickle.loads(pickle.dumps(x.shape)) == x.shape


@pytest.mark.parametrize("spec", ["", ".2f", "+.3f", ">10.1e", "g"])
def test_a_one_element_tensor_formats_as_its_number(spec):
    value = 0.123456
    assert format(ember.tensor(value), spec) == format(torch.tensor(value), spec)
    assert "{:+.2f}".format(ember.tensor(-1.5)) == "-1.50"  # noqa: UP032 - the call scripts make


def test_a_tensor_of_several_elements_takes_no_format_spec():
    with pytest.raises(TypeError):
        format(ember.ones(2), ".2f")
    assert f"{ember.ones(2)}" == str(ember.ones(2))
