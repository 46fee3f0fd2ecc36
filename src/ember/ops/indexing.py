"""Indexing: ``x[index]`` with ints, slices, None, Ellipsis, integer arrays and boolean masks;
``x[index] = v``; ``gather``, ``scatter``/``scatter_add``, ``index_select``, ``masked_select``, ``nonzero``.

The backward of a read is a write: the gradient goes back to the positions that were read. An integer array
may read one position several times, so its backward adds (scatter-add, ``np.add.at``) instead of assigning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Context, DoubleBackwardError, Function, Tensor
from ember.ops.broadcast import unbroadcast
from ember.ops.dims import normalize_dim


def normalize_index(index: Any) -> tuple[Any, ...]:
    """Tensors and lists in an index become NumPy arrays; the result is always a tuple."""
    items = index if isinstance(index, tuple) else (index,)
    normalized = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.array
        elif isinstance(item, list):
            item = np.asarray([getattr(i, "array", i) for i in item])
        if isinstance(item, np.ndarray) and item.dtype.kind not in "biu":
            raise IndexError(f"index arrays must hold integers or booleans, not {item.dtype}")
        normalized.append(item)
    return tuple(normalized)


def is_basic(index: tuple[Any, ...]) -> bool:
    """Only ints, slices, None and Ellipsis: NumPy returns a view and no position is read twice."""
    return all(isinstance(i, int | np.integer | slice) or i is None or i is Ellipsis for i in index)


def _reads_each_position_once(index: tuple[Any, ...]) -> bool:
    arrays = [i for i in index if isinstance(i, np.ndarray)]
    return len(arrays) == 1 and arrays[0].dtype == bool


class GetItem(Function):
    returns_view = True

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, index: tuple[Any, ...]) -> np.ndarray:
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as error:
            raise IndexError(f"index {_describe(index)} into a tensor of shape {x.shape}: {error}") from None

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None]:
        once = is_basic(ctx.index) or _reads_each_position_once(ctx.index)
        if isinstance(grad, Tensor):  # recorded (create_graph): the same scatter, as an operation
            if not once:
                raise DoubleBackwardError(
                    "getitem: an index that reads a position twice has no double backward in Ember (it "
                    "would need a scatter-add); index each position once, or detach()"
                )
            return IndexPut.apply(Tensor(np.zeros(ctx.shape, dtype=ctx.dtype)), grad, ctx.index), None
        out = np.zeros(ctx.shape, dtype=ctx.dtype)
        if once:
            out[ctx.index] = grad
        else:
            np.add.at(out, ctx.index, grad)
        return out, None


def _describe(index: tuple[Any, ...]) -> str:
    return "[" + ", ".join(f"array{i.shape}" if isinstance(i, np.ndarray) else repr(i) for i in index) + "]"


def getitem(x: Tensor, index: Any) -> Tensor:
    return GetItem.apply(x, normalize_index(index))


class IndexPut(Function):
    """``x`` with ``x[index] = value``, out of place; the overwritten positions pass no gradient to ``x``."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, value: Any, index: tuple[Any, ...]) -> np.ndarray:
        ctx.index, ctx.value_shape = index, np.shape(value)
        out = x.copy()
        try:
            out[index] = value
        except ValueError as error:
            raise ValueError(
                f"setitem: cannot assign a value of shape {np.shape(value)} to {_describe(index)} of a "
                f"tensor of shape {x.shape}: {error}"
            ) from None
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, Any, None]:
        grad_x = None
        if ctx.needs_input_grad[0] and isinstance(grad, Tensor):  # recorded (create_graph)
            grad_x = IndexPut.apply(grad, grad.dtype.type(0), ctx.index)
        elif ctx.needs_input_grad[0]:
            grad_x = grad.copy()
            grad_x[ctx.index] = 0
        grad_value = None
        if ctx.needs_input_grad[1]:
            grad_value = unbroadcast(
                GetItem.apply(grad, ctx.index) if isinstance(grad, Tensor) else grad[ctx.index],
                ctx.value_shape,
            )
        return grad_x, grad_value, None


def index_put(x: Tensor, index: Any, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        value = value.to(x.dtype)
    else:
        value = np.asarray(getattr(value, "array", value), dtype=x.dtype)
    return IndexPut.apply(x, value, normalize_index(index))


class Gather(Function):
    """out[i][j] = x[index[i][j]][j] (for dim 0), as ``torch.gather``; backward scatter-adds."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
        if index.ndim != x.ndim:
            raise ValueError(f"gather: index has {index.ndim} dimensions but the input has {x.ndim}")
        for d, (size, limit) in enumerate(zip(index.shape, x.shape, strict=True)):
            if d != axis and size > limit:
                raise ValueError(
                    f"gather: index shape {index.shape} exceeds the input shape {x.shape} in dimension {d}"
                )
        if index.size and (index.min() < 0 or index.max() >= x.shape[axis]):
            raise IndexError(
                f"gather: index values must lie in [0, {x.shape[axis]}) for dimension {axis}, "
                f"found {index.min()}..{index.max()}"
            )
        region = tuple(slice(None) if d == axis else slice(0, s) for d, s in enumerate(index.shape))
        ctx.shape, ctx.dtype, ctx.axis, ctx.index = x.shape, x.dtype, axis, index
        return np.take_along_axis(x[region], index, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        out = np.zeros(ctx.shape, dtype=ctx.dtype)
        index, axis = ctx.index, ctx.axis
        if index.shape[axis] == 1 and index.shape == (*ctx.shape[:axis], 1, *ctx.shape[axis + 1 :]):
            np.put_along_axis(out, index, grad, axis)  # one position per fiber: nothing to add up
            return out, None, None
        np.add.at(out, scattered_positions(index, axis), grad)
        return out, None, None


def scattered_positions(index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The positions ``index`` names along ``axis`` (each other dimension its own position): where gather
    reads, and scatter writes, element by element of ``index``."""
    positions = [
        np.arange(size).reshape((1,) * d + (size,) + (1,) * (index.ndim - d - 1))
        for d, size in enumerate(index.shape)
    ]
    positions[axis] = index
    return tuple(positions)


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    axis = normalize_dim(dim, x.ndim, "gather")
    index_array = np.asarray(getattr(index, "array", index))
    if index_array.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, not {index_array.dtype}")
    return Gather.apply(x, axis, index_array)


class Scatter(Function):
    """``x`` with ``src``'s elements written (or, with ``add``, added) at the positions ``index`` names along
    ``axis``: out[index[i][j]][j] = src[i][j] for axis 0 (``torch.scatter``, ``scatter_add``). The backward
    reads the gradient back: ``src`` gets it at those positions (a gather); ``x`` gets all of it when adding,
    and none where it was overwritten."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, src: np.ndarray, axis: int, index: np.ndarray, add: bool) -> Any:
        name = "scatter_add" if add else "scatter"
        if index.ndim != x.ndim or src.ndim != x.ndim:
            raise ValueError(
                f"{name}: index ({index.ndim}-d), src ({src.ndim}-d) and the input ({x.ndim}-d) must have "
                "the same number of dimensions"
            )
        for d, size in enumerate(index.shape):
            if size > src.shape[d] or (d != axis and size > x.shape[d]):
                raise ValueError(
                    f"{name}: index shape {index.shape} exceeds src shape {src.shape} or the input shape "
                    f"{x.shape} in dimension {d}"
                )
        if index.size and (index.min() < 0 or index.max() >= x.shape[axis]):
            raise IndexError(
                f"{name}: index values must lie in [0, {x.shape[axis]}) for dimension {axis}, "
                f"found {index.min()}..{index.max()}"
            )
        ctx.positions = scattered_positions(index, axis)
        ctx.region = tuple(slice(0, size) for size in index.shape)  # the part of src that is used
        ctx.src_shape, ctx.add = src.shape, add
        out = x.copy()
        if add:
            np.add.at(out, ctx.positions, src[ctx.region])
        else:
            out[ctx.positions] = src[ctx.region]
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any, None, None, None]:
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad
            if not ctx.add:
                grad_x = grad.copy()
                grad_x[ctx.positions] = 0
        grad_src = None
        if ctx.needs_input_grad[1]:
            grad_src = np.zeros(ctx.src_shape, dtype=grad.dtype)
            grad_src[ctx.region] = grad[ctx.positions]
        return grad_x, grad_src, None, None, None


def _scatter(name: str, x: Tensor, dim: int, index: Any, src: Any, add: bool) -> Tensor:
    axis = normalize_dim(dim, x.ndim, name)
    index_array = np.asarray(getattr(index, "array", index))
    if index_array.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor, not {index_array.dtype}")
    if isinstance(src, Tensor):
        source = src if src.dtype == x.dtype else src.to(x.dtype)
    else:  # a number: the same value at every position (scatter's ``value`` form)
        source = Tensor(np.full(index_array.shape, src, dtype=x.dtype))
    return Scatter.apply(x, source, axis, index_array, add)


def scatter(
    x: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None, reduce: Any = None
) -> Tensor:
    """``x`` with ``src`` (a tensor, or a number: ``value``) written at ``index`` along ``dim``; where an
    index repeats, which write wins is unspecified (as in PyTorch)."""
    if reduce is not None:
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported; use scatter_add for sums")
    if (src is None) == (value is None):
        raise TypeError("scatter: give src (a tensor or a number) or value, not both or neither")
    return _scatter("scatter", x, dim, index, value if src is None else src, False)


def scatter_add(x: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """``x`` with ``src`` added at ``index`` along ``dim``; repeated indices add up."""
    return _scatter("scatter_add", x, dim, index, src, True)


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of ``x`` at positions ``index`` (a 1-d int tensor; repeats allowed) along ``dim``:
    ``x[:, index]`` for ``dim=1``. The gradient is added back to each position read."""
    positions = np.asarray(getattr(index, "array", index))
    if positions.dtype.kind not in "iu" or positions.ndim > 1:
        raise TypeError(
            f"index_select: index must be a 1-d integer tensor, not {positions.ndim}-d of {positions.dtype}"
        )
    if x.ndim == 0:
        return getitem(x.reshape(1), positions.reshape(-1)).reshape(())
    axis = normalize_dim(dim, x.ndim, "index_select")
    size = x.shape[axis]
    if positions.size and (positions.min() < 0 or positions.max() >= size):
        raise IndexError(
            f"index_select: index values must lie in [0, {size}) for dimension {axis} of a tensor of shape "
            f"{tuple(x.shape)}, found {positions.min()}..{positions.max()}"
        )
    return getitem(x, (slice(None),) * axis + (positions.reshape(-1),))


def masked_select(x: Tensor, mask: Any) -> Tensor:
    """The elements of ``x`` where the boolean ``mask`` holds (the two broadcast together), as a 1-d tensor
    in row-major order."""
    selector = np.asarray(getattr(mask, "array", mask))
    if selector.dtype != bool:
        raise TypeError(f"masked_select: mask must be a boolean tensor, not {selector.dtype}")
    shape = np.broadcast_shapes(x.shape, selector.shape)
    if x.shape != shape:
        x = x.expand(shape)
    return getitem(x, np.broadcast_to(selector, shape))


def nonzero(x: Tensor, *, as_tuple: bool = False) -> Any:
    """The int64 indices of the non-zero elements: an (N, ndim) tensor, one row per element in row-major
    order; with ``as_tuple``, one 1-d tensor per dimension (what ``x[x.nonzero(as_tuple=True)]`` needs)."""
    values = x.array
    found = np.nonzero(values if values.ndim else values.reshape(1))
    if as_tuple:
        return tuple(Tensor(np.asarray(i, dtype=np.int64)) for i in found)
    columns = np.stack(found, axis=1) if values.ndim else np.zeros((len(found[0]), 0))
    return Tensor(np.asarray(columns, dtype=np.int64))


def argwhere(x: Tensor) -> Tensor:
    """``nonzero(x)``: an (N, ndim) tensor of the indices of the non-zero elements."""
    return nonzero(x)
