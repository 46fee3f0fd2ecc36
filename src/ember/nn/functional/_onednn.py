"""oneDNN's convolutions through its C API (ctypes): an optional backend for float32 ``conv2d`` and
``conv_transpose2d``, the same three products as ``_conv_kernels`` with the same signatures.

oneDNN (Intel's Deep Neural Network Library, the one PyTorch's CPU convolutions run on) computes a
convolution directly with JIT-compiled kernels on a *blocked* layout (channels in blocks of 8 or 16
innermost, ``nChw16c``), with no im2col copies. As PyTorch's eager CPU convolution does (through ideep),
each call describes the user's arrays by tag (``nchw``, ``oihw`` / ``goihw``), lets the primitive choose
its own layout (``format_tag_any``), and reorders into it and back out. Primitives are made once per
(product, shapes, stride, padding, dilation, groups, threads) and cached.

Fewer reorders where the layouts agree (oneDNN 2.6 picks the same blocked layout for the forward's input
and the weight gradient's, and for both backward products' output gradient): the backward reorders dy once
for both products, and a forward that will be differentiated keeps its blocked copy of x (``keep``) for the
weight gradient, which the node holds until its backward (``docs/performance.md``, oneDNN, also for why
the blocked buffers are fresh arrays per call rather than ``_workspace``'s).

Used where the library is (``ember.backends._dnnl``: loading, version check, threads); only float32 arrays
go to it (float64 stays on the NumPy path, which the gradient checks test and which the tests compare this
backend against). Without the library Ember runs exactly as before.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from typing import Any

import numpy as np

from ember.backends import _dnnl
from ember.nn.functional import _conv_kernels
from ember.nn.functional._conv_grid import ConvGeometry

# From oneDNN 2.6's dnnl_types.h (tests/nn/test_onednn.py compiles them against the installed headers
# where a C compiler is present).
TAG_ANY, TAG_X, TAG_ABCD, TAG_ABCDE = 1, 2, 5, 7  # abcd = nchw = oihw, abcde = goihw
FORWARD_TRAINING, BACKWARD_DATA, BACKWARD_WEIGHTS, CONVOLUTION_DIRECT = 64, 160, 192, 1
SRC, DST, WEIGHTS, BIAS = 1, 17, 33, 41  # DNNL_ARG_*; a reorder's FROM and TO are SRC and DST
DIFF_SRC, DIFF_DST, DIFF_WEIGHTS = 129, 145, 161
# dnnl_query_*_md; the bias is the weights' second memory (index 1)
QUERY = {SRC: 129, DIFF_SRC: 130, WEIGHTS: 131, DIFF_WEIGHTS: 132, DST: 133, DIFF_DST: 134, BIAS: 131}
OP_DESC_BYTES = 8192  # an opaque buffer for a convolution's descriptor (5976 bytes in 2.6)
ALIGNMENT = 64  # bytes, for the arrays the library reads and writes in its own layout

_lock = threading.Lock()  # one call at a time: the cached memory objects are re-pointed per call


def _new_lock_in_child() -> None:  # a lock held by another thread at the fork would stay held
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def takes(dtype: np.dtype, geo: ConvGeometry) -> bool:
    """Whether this convolution goes to oneDNN: float32, a non-empty batch, the backend enabled."""
    return dtype == np.float32 and geo.batch > 0 and _dnnl.enabled()


class _Port:
    """One array argument of a primitive: the user's layout (``user``), the primitive's (``inner``: the
    same memory where the layouts agree) and the reorder between them (None where they agree)."""

    def __init__(self, lib: _dnnl.Library, pd: ctypes.c_void_p, arg: int, user: tuple[tuple[int, ...], int],
                 is_input: bool) -> None:  # fmt: skip
        user_desc = lib.memory_desc(*user)
        # The primitive's own layout; its descriptor ``pd`` owns it and lives as long as this port.
        query = lib.lib.dnnl_primitive_desc_query_md(pd, QUERY[arg], int(arg == BIAS))
        self.inner_desc = ctypes.c_void_p(query)
        self.user = self.inner = lib.memory(user_desc)
        self.reorder: ctypes.c_void_p | None = None
        self.inner_bytes = 0
        if not lib.lib.dnnl_memory_desc_equal(user_desc, self.inner_desc):
            self.inner = lib.memory(self.inner_desc)
            self.inner_bytes = lib.lib.dnnl_memory_desc_get_size(self.inner_desc)
            source, target = (user_desc, self.inner_desc) if is_input else (self.inner_desc, user_desc)
            reorder_pd = ctypes.c_void_p()
            lib.check("dnnl_reorder_primitive_desc_create", ctypes.byref(reorder_pd), source, lib.engine,
                      target, lib.engine, None)  # fmt: skip
            self.reorder = lib.primitive(reorder_pd)
            lib.check("dnnl_primitive_desc_destroy", reorder_pd)


class _Convolution:
    """A cached convolution primitive of one kind (forward, backward data or weights), its ports and the
    number of threads it runs on. Callers hold ``_lock`` and ``_dnnl.threads(self.threads)`` around
    ``blocked`` and ``run`` (the cached memory objects are re-pointed per call)."""

    def __init__(self, lib: _dnnl.Library, pd: ctypes.c_void_p, ports: dict[int, tuple[tuple[int, ...], int]],
                 outputs: tuple[int, ...], threads: int) -> None:  # fmt: skip
        self.lib, self.pd, self.outputs, self.threads = lib, pd, outputs, threads
        self.ports = {arg: _Port(lib, pd, arg, user, arg not in outputs) for arg, user in ports.items()}
        self.primitive = lib.primitive(pd)

    def __del__(self) -> None:
        lib = self.lib.lib
        for port in self.ports.values():
            lib.dnnl_memory_destroy(port.user)
            if port.reorder is not None:
                lib.dnnl_memory_destroy(port.inner)
                lib.dnnl_primitive_destroy(port.reorder)
        lib.dnnl_primitive_destroy(self.primitive)
        lib.dnnl_primitive_desc_destroy(self.pd)

    def shares_layout(self, arg: int, other: _Convolution) -> bool:
        """Whether ``other`` reads its argument ``arg`` in the same layout as this primitive."""
        ours, theirs = self.ports[arg].inner_desc, other.ports[arg].inner_desc
        return bool(self.lib.lib.dnnl_memory_desc_equal(ours, theirs))

    def blocked(self, arg: int, array: np.ndarray) -> np.ndarray:
        """The input ``array`` (contiguous float32, the user's layout) as this primitive reads it: ``array``
        itself where the layouts agree, else reordered into a fresh buffer."""
        port = self.ports[arg]
        if port.reorder is None:
            return array
        inner = aligned(port.inner_bytes)
        set_handle(self.lib, port.user, array)
        set_handle(self.lib, port.inner, inner)
        self.lib.execute(port.reorder, [(SRC, port.user), (DST, port.inner)])
        return inner

    def run(self, arrays: dict[int, np.ndarray], inner: dict[int, np.ndarray] | None = None) -> None:
        """Run on ``arrays`` (contiguous float32, the user's layout) and ``inner`` (inputs already in this
        primitive's layout, from ``blocked``); writes the outputs' arrays in place."""
        lib, inner = self.lib, dict(inner or {})
        for arg, port in self.ports.items():
            if arg in inner:
                continue
            if arg not in self.outputs:
                inner[arg] = self.blocked(arg, arrays[arg])
            elif port.reorder is None:
                inner[arg] = arrays[arg]
            else:
                set_handle(lib, port.user, arrays[arg])
                inner[arg] = aligned(port.inner_bytes)
        for arg, port in self.ports.items():
            set_handle(lib, port.inner, inner[arg])
        lib.execute(self.primitive, [(arg, port.inner) for arg, port in self.ports.items()])
        for arg in self.outputs:
            port = self.ports[arg]
            if port.reorder is not None:
                lib.execute(port.reorder, [(SRC, port.inner), (DST, port.user)])
        lib.check("dnnl_stream_wait", lib.stream)


def aligned(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + nbytes]


def set_handle(lib: _dnnl.Library, memory: ctypes.c_void_p, array: np.ndarray) -> None:
    lib.check("dnnl_memory_set_data_handle", memory, ctypes.c_void_p(array.ctypes.data))


# ------------------------------------------------------------------------------------------------------
# Primitives by shape


def _weight_port(weight_shape: tuple[int, ...], groups: int) -> tuple[tuple[int, ...], int]:
    o, cg, kh, kw = weight_shape
    return ((groups, o // groups, cg, kh, kw), TAG_ABCDE) if groups > 1 else (tuple(weight_shape), TAG_ABCD)


@functools.lru_cache(maxsize=512)
def _primitive(
    kind: int, geo: ConvGeometry, channels: int, weight_shape: tuple[int, ...], groups: int, bias: bool,
    threads: int,
) -> _Convolution | None:  # fmt: skip
    """The primitive of one product (``kind``: FORWARD_TRAINING, BACKWARD_DATA or BACKWARD_WEIGHTS) for one
    shape, or None where oneDNN has no implementation (the NumPy path then computes it)."""
    lib = _dnnl.library()
    source = (geo.batch, channels, geo.height, geo.width)
    target = (geo.batch, weight_shape[0], geo.out_height, geo.out_width)
    weights = _weight_port(weight_shape, groups)
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    top, _, left, _ = geo.padding
    # The far padding that gives exactly these outputs (a transposed convolution may keep fewer).
    bottom = (geo.out_height - 1) * sh + dh * (kh - 1) + 1 - geo.height - top
    right = (geo.out_width - 1) * sw + dw * (kw - 1) + 1 - geo.width - left
    any_ = {name: lib.memory_desc(dims, TAG_ANY) for name, dims in
            (("src", source), ("dst", target), ("weights", weights[0]))}  # fmt: skip
    bias_desc = lib.memory_desc((weight_shape[0],), TAG_ANY) if bias else None
    dims = _dnnl.Dims
    geometry_args = (dims(sh, sw), dims(dh - 1, dw - 1), dims(top, left), dims(bottom, right))
    desc = ctypes.create_string_buffer(OP_DESC_BYTES)
    forward_desc = ctypes.create_string_buffer(OP_DESC_BYTES)
    with _dnnl.threads(threads):
        lib.check("dnnl_dilated_convolution_forward_desc_init", forward_desc, FORWARD_TRAINING,
                  CONVOLUTION_DIRECT, any_["src"], any_["weights"], bias_desc if kind == FORWARD_TRAINING
                  else None, any_["dst"], *geometry_args)  # fmt: skip
        hint = _create_pd(lib, forward_desc, None)
        if hint is None or kind == FORWARD_TRAINING:
            pd = hint
        else:
            if kind == BACKWARD_DATA:
                lib.check("dnnl_dilated_convolution_backward_data_desc_init", desc, CONVOLUTION_DIRECT,
                          any_["src"], any_["weights"], any_["dst"], *geometry_args)  # fmt: skip
            else:
                lib.check("dnnl_dilated_convolution_backward_weights_desc_init", desc, CONVOLUTION_DIRECT,
                          any_["src"], any_["weights"], None, any_["dst"], *geometry_args)  # fmt: skip
            pd = _create_pd(lib, desc, hint)
            lib.check("dnnl_primitive_desc_destroy", hint)
        if pd is None:
            return None
        if kind == FORWARD_TRAINING:
            ports = {SRC: (source, TAG_ABCD), WEIGHTS: weights, DST: (target, TAG_ABCD)}
            if bias:
                ports[BIAS] = ((weight_shape[0],), TAG_X)
            return _Convolution(lib, pd, ports, (DST,), threads)
        if kind == BACKWARD_DATA:
            ports = {DIFF_DST: (target, TAG_ABCD), WEIGHTS: weights, DIFF_SRC: (source, TAG_ABCD)}
            return _Convolution(lib, pd, ports, (DIFF_SRC,), threads)
        ports = {SRC: (source, TAG_ABCD), DIFF_DST: (target, TAG_ABCD), DIFF_WEIGHTS: weights}
        return _Convolution(lib, pd, ports, (DIFF_WEIGHTS,), threads)


def _create_pd(lib: _dnnl.Library, desc: Any, hint: ctypes.c_void_p | None) -> ctypes.c_void_p | None:
    pd = ctypes.c_void_p()
    status = lib.lib.dnnl_primitive_desc_create(ctypes.byref(pd), desc, None, lib.engine, hint)
    return pd if status == 0 else None


# ------------------------------------------------------------------------------------------------------
# The three products, with ``_conv_kernels``'s signatures


# A forward's blocked copies for its backward: argument -> (the primitive that made the copy, the copy)
Kept = dict[int, tuple[_Convolution, np.ndarray]]


def forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    groups: int,
    keep: Kept | None = None,
) -> np.ndarray:
    """y = conv(x, weight) + bias, (N, C, H, W) -> (N, O, Ho, Wo). With ``keep`` (an empty dict), the
    blocked copy of x is kept there for ``backward``'s weight gradient."""
    has_bias = bias is not None
    conv = _primitive(FORWARD_TRAINING, geo, x.shape[1], weight.shape, groups, has_bias, _dnnl.thread_count())
    if conv is None:
        return _conv_kernels.forward(x, weight, bias, geo, groups)
    out = np.empty((geo.batch, weight.shape[0], geo.out_height, geo.out_width), np.float32)
    arrays = {WEIGHTS: np.ascontiguousarray(weight), DST: out}
    if bias is not None:
        arrays[BIAS] = np.ascontiguousarray(bias)
    with _lock, _dnnl.threads(conv.threads):
        source = conv.blocked(SRC, np.ascontiguousarray(x))
        conv.run(arrays, {SRC: source})
    if keep is not None:
        keep[SRC] = (conv, source)
    return out


def input_gradient(weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int) -> np.ndarray:
    """dL/dx (N, C, H, W) from dy (N, O, Ho, Wo)."""
    return backward(None, weight, grad, geo, groups, weight.shape)[0]  # type: ignore[return-value]


def weight_gradient(
    x: np.ndarray, grad: np.ndarray, weight_shape: tuple[int, ...], geo: ConvGeometry, groups: int
) -> np.ndarray:
    """dL/dW (O, C / groups, kh, kw) from x and dy."""
    return backward(x, None, grad, geo, groups, weight_shape)[1]  # type: ignore[return-value]


def backward(
    x: np.ndarray | None,
    weight: np.ndarray | None,
    grad: np.ndarray,
    geo: ConvGeometry,
    groups: int,
    weight_shape: tuple[int, ...],
    kept: Kept | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Gradients with respect to x and weight (each only if given x / weight), as ``_conv_kernels``'s.

    dy is reordered once for both products where they read it in the same layout, and the weight gradient
    reads the forward's blocked copy of x (``kept``, from ``forward``'s ``keep``) where its layout is the
    weight gradient's."""
    weight_shape, threads = tuple(weight_shape), _dnnl.thread_count()
    channels = weight_shape[1] * groups
    data = weights = None
    if weight is not None:
        data = _primitive(BACKWARD_DATA, geo, channels, weight_shape, groups, False, threads)
    if x is not None:
        weights = _primitive(BACKWARD_WEIGHTS, geo, channels, weight_shape, groups, False, threads)
    grad_input = grad_weight = None
    grad = np.ascontiguousarray(grad)
    with _lock, _dnnl.threads(threads):
        dy: np.ndarray | None = None
        if data is not None:
            grad_input = np.empty((geo.batch, channels, geo.height, geo.width), np.float32)
            dy = data.blocked(DIFF_DST, grad)
            data.run({WEIGHTS: np.ascontiguousarray(weight), DIFF_SRC: grad_input}, {DIFF_DST: dy})
        if weights is not None:
            inner: dict[int, np.ndarray] = {}
            if data is not None and dy is not None and data.shares_layout(DIFF_DST, weights):
                inner[DIFF_DST] = dy
            if kept and SRC in kept and kept[SRC][0].shares_layout(SRC, weights):
                inner[SRC] = kept[SRC][1]
            grad_weight = np.empty(weight_shape, np.float32)
            weights.run({SRC: np.ascontiguousarray(x), DIFF_DST: grad, DIFF_WEIGHTS: grad_weight}, inner)
    if weight is not None and data is None:
        grad_input = _conv_kernels.input_gradient(weight, grad, geo, groups)
    if x is not None and weights is None:
        grad_weight = _conv_kernels.weight_gradient(x, grad, weight_shape, geo, groups)
    return grad_input, grad_weight
