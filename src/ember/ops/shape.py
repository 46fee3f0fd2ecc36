"""Shape operations: reshape/view, transpose, permute, movedim, flatten, unflatten, squeeze, unsqueeze,
expand, meshgrid, flip, repeat, repeat_interleave, roll, narrow.

They move no numbers, only change how the same numbers are indexed, so their backward applies the inverse
rearrangement to the gradient: reshape back, the inverse permutation, roll back, and for expand a sum over
the copies.
Where NumPy returns a view, the result shares the input's version counter (an in-place change through one
is seen through the other).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.ops import dual
from ember.ops.broadcast import unbroadcast
from ember.ops.dims import normalize_dim, normalize_dims


class Reshape(Function):
    returns_view = True

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) as shape {shape}"
            ) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        return grad.reshape(ctx.shape), None


class Permute(Function):
    returns_view = True

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        return dual.permute(grad, ctx.inverse), None


class Expand(Function):
    returns_view = True

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        return unbroadcast(grad, ctx.shape), None


class Flip(Function):
    returns_view = True

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        ctx.axes = axes
        return np.flip(x, axes)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        return dual.flip(grad, ctx.axes), None


class Repeat(Function):
    """Tile the tensor ``repeats`` times along each dimension; backward sums the tiles."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, repeats: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        return np.tile(x, repeats)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        shape = (1,) * (grad.ndim - len(ctx.shape)) + ctx.shape
        split_shape = []
        for tiles, size in zip(np.divide(grad.shape, shape).astype(int), shape, strict=True):
            split_shape += [tiles, size]
        summed = dual.sum(grad.reshape(tuple(split_shape)), tuple(range(0, 2 * grad.ndim, 2)))
        return summed.reshape(ctx.shape), None


class Roll(Function):
    """Shift the elements along dimensions, those pushed off one end coming back at the other."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, shifts: tuple[int, ...], axes: tuple[int, ...] | None) -> Any:
        ctx.shifts, ctx.axes = shifts, axes
        return np.roll(x, shifts if axes is not None else shifts[0], axes)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None, None]:
        back = tuple(-s for s in ctx.shifts)
        if isinstance(grad, Tensor):  # recorded (create_graph): the roll back, as an operation
            return Roll.apply(grad, back, ctx.axes), None, None
        return np.roll(grad, back if ctx.axes is not None else back[0], ctx.axes), None, None


def reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return Reshape.apply(x, tuple(int(s) for s in shape))


view = reshape


def permute(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    normalized = tuple(d % x.ndim for d in dims) if x.ndim else ()
    if sorted(normalized) != list(range(x.ndim)):
        raise ValueError(f"permute: {tuple(dims)} is not a permutation of the {x.ndim} dimensions")
    return Permute.apply(x, normalized)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, tuple(dims))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    shape = (*x.shape[:start], int(np.prod(x.shape[start : end + 1])), *x.shape[end + 1 :])
    return reshape(x, shape)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """Remove dimensions of size 1 (all of them, or those in ``dim`` that have size 1, as PyTorch)."""
    axes = normalize_dims(dim, x.ndim, "squeeze")
    if axes is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1))
    return reshape(x, shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim`` (negative counts from the end of the result)."""
    ndim = x.ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"unsqueeze: dimension {dim} is out of range for a result with {ndim} dimensions")
    dim %= ndim
    return reshape(x, (*x.shape[:dim], 1, *x.shape[dim:]))


def expand(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Broadcast to ``shape`` without copying; -1 keeps a dimension's size."""
    leading = len(shape) - x.ndim
    if leading < 0:
        raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to fewer dimensions {tuple(shape)}")
    target = tuple(
        x.shape[i - leading] if size == -1 and i >= leading else size for i, size in enumerate(shape)
    )
    try:
        np.broadcast_shapes(x.shape, target)
    except ValueError:
        raise ValueError(
            f"expand: cannot expand shape {tuple(x.shape)} to {tuple(shape)}: a dimension can only be "
            "expanded from size 1"
        ) from None
    return Expand.apply(x, target)


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return expand(x, shape)


def flip(x: Tensor, dims: Any) -> Tensor:
    return Flip.apply(x, normalize_dims(dims, x.ndim, "flip"))


def repeat(x: Tensor, repeats: tuple[int, ...]) -> Tensor:
    if len(repeats) < x.ndim:
        raise ValueError(
            f"repeat: give at least as many repeats ({len(repeats)}) as the tensor has dimensions ({x.ndim})"
        )
    return Repeat.apply(x, tuple(repeats))


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift by ``shifts`` along ``dims`` (ints or tuples of the same length), wrapping around; without
    ``dims`` the tensor is flattened, shifted and given its shape back."""
    shift_tuple = (shifts,) if isinstance(shifts, int | np.integer) else tuple(shifts)
    if dims is None:
        if len(shift_tuple) != 1:
            raise RuntimeError(f"roll: without dims give one shift, not {len(shift_tuple)}")
        return Roll.apply(x, (int(shift_tuple[0]),), None)
    dim_tuple = (dims,) if isinstance(dims, int | np.integer) else tuple(dims)
    if len(shift_tuple) != len(dim_tuple):
        raise RuntimeError(
            f"roll: shifts and dims must have the same length, got {len(shift_tuple)} and {len(dim_tuple)}"
        )
    axes = tuple(normalize_dim(d, x.ndim, "roll") for d in dim_tuple)
    return Roll.apply(x, tuple(int(s) for s in shift_tuple), axes)


def repeat_interleave(x: Tensor, repeats: Any = None, dim: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place: [1, 2] -> [1, 1, 2, 2]
    (``repeat`` tiles the whole tensor instead). ``repeats`` is an int or one count per slice; without
    ``dim`` the tensor is flattened first. The gradient of each copy is added back to its source."""
    if repeats is None:  # repeat_interleave(counts): each index i repeated counts[i] times
        counts = np.asarray(getattr(x, "array", x))
        return Tensor(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    if dim is None:
        x, axis = reshape(x, (-1,)), 0
    else:
        axis = normalize_dim(dim, x.ndim, "repeat_interleave")
    size = x.shape[axis] if x.ndim else 1
    counts = np.asarray(getattr(repeats, "array", repeats))
    if counts.dtype.kind not in "iu" or counts.ndim > 1 or counts.size not in (1, size) or (counts < 0).any():
        raise RuntimeError(
            f"repeat_interleave: repeats must be a non-negative int or one per slice ({size} along dimension "
            f"{axis}), got {counts.tolist()}"
        )
    positions = np.repeat(np.arange(size), counts.reshape(-1))  # one count broadcasts to every slice
    return x.reshape(1)[positions] if x.ndim == 0 else x[(slice(None),) * axis + (positions,)]


def numel(x: Tensor) -> int:
    """The number of elements (``torch.numel``)."""
    return x.numel()


def movedim(x: Tensor, source: Any, destination: Any) -> Tensor:
    """Move dimension(s) ``source`` to position(s) ``destination``, the others keeping their order."""
    sources = [source] if isinstance(source, int | np.integer) else list(source)
    destinations = [destination] if isinstance(destination, int | np.integer) else list(destination)
    if len(sources) != len(destinations):
        raise ValueError(f"movedim: {len(sources)} source dimensions but {len(destinations)} destinations")
    moved = [normalize_dim(int(d), x.ndim, "movedim") for d in sources]
    targets = [normalize_dim(int(d), x.ndim, "movedim") for d in destinations]
    if len(set(moved)) != len(moved) or len(set(targets)) != len(targets):
        raise ValueError(f"movedim: repeated dimension in {tuple(sources)} or {tuple(destinations)}")
    order: list[int | None] = [None] * x.ndim
    for dim, target in zip(moved, targets, strict=True):
        order[target] = dim
    rest = iter(d for d in range(x.ndim) if d not in moved)
    return permute(x, tuple(next(rest) if d is None else d for d in order))


moveaxis = movedim


def unflatten(x: Tensor, dim: int, sizes: Any) -> Tensor:
    """Split dimension ``dim`` into ``sizes`` (one of them may be -1): (N, 784) -> (N, 1, 28, 28)."""
    axis = normalize_dim(dim, x.ndim, "unflatten")
    return reshape(x, (*x.shape[:axis], *sizes, *x.shape[axis + 1 :]))


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``length`` elements of dimension ``dim`` from ``start`` (a view, as ``x[:, start:start + length]``)."""
    axis = normalize_dim(dim, x.ndim, "narrow")
    size = x.shape[axis]
    start = int(start) + (size if start < 0 else 0)
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise IndexError(f"narrow: start {start} and length {length} exceed dimension {axis} of size {size}")
    return x[(slice(None),) * axis + (slice(start, start + length),)]


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids of 1-d tensors: with ``indexing="ij"`` output k varies along dimension k; with
    "xy" the first two dimensions swap (NumPy's and MATLAB's convention). Each is an expanded view."""
    inputs = list(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], list | tuple) else list(tensors)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', not {indexing!r}")
    if any(t.ndim > 1 for t in inputs):
        raise ValueError(
            f"meshgrid: expects 0-d or 1-d tensors, got shapes {[tuple(t.shape) for t in inputs]}"
        )
    sizes = [t.numel() for t in inputs]
    swap = indexing == "xy" and len(inputs) > 1
    if swap:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for k, t in enumerate(inputs):
        position = {0: 1, 1: 0}.get(k, k) if swap else k
        shape = [1] * len(inputs)
        shape[position] = sizes[position]
        grids.append(expand(reshape(t, tuple(shape)), tuple(sizes)))
    return tuple(grids)
