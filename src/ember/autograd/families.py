"""Tensor's comparison and arithmetic families, complete as PyTorch has them: each operation as a method,
under its long names too (``x.greater_equal(y)``, ``x.multiply(y)``), and in place with a trailing
underscore (``x.ge_(y)``, ``x.mul_(y)``).

Each method calls the operation of the same name in ``ember.ops`` (bound by ``methods.bind_operations``).
An in-place form goes through ``Tensor._inplace``: the storage is overwritten, the version counter moves
on, and the graph is recorded when gradients are (so ``y.exp_()`` on an intermediate still
differentiates). A comparison done in place writes 1 and 0 in the tensor's own type, as PyTorch's.
"""

from __future__ import annotations

from builtins import bool as _bool
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ember.autograd import methods

TensorT = TypeVar("TensorT")


def _ops() -> Any:
    return methods.operations


class TensorFamilies(Generic[TensorT]):
    """The comparison and arithmetic methods of ``Tensor`` (inherited by it)."""

    __slots__ = ()

    if TYPE_CHECKING:  # what this uses of Tensor itself (ember.autograd.tensor)

        def _inplace(self, name: str, op: Callable[..., Any], *args: Any, **kwargs: Any) -> TensorT: ...

    # ----------------------------------------------------------------------------------------------
    # Comparison and logic
    def eq(self, other: Any) -> TensorT:
        return _ops().eq(self, other)

    def ne(self, other: Any) -> TensorT:
        return _ops().ne(self, other)

    def lt(self, other: Any) -> TensorT:
        return _ops().lt(self, other)

    def le(self, other: Any) -> TensorT:
        return _ops().le(self, other)

    def gt(self, other: Any) -> TensorT:
        return _ops().gt(self, other)

    def ge(self, other: Any) -> TensorT:
        return _ops().ge(self, other)

    not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge

    def eq_(self, other: Any) -> TensorT:
        return self._inplace("eq_", _ops().eq, other)

    def ne_(self, other: Any) -> TensorT:
        return self._inplace("ne_", _ops().ne, other)

    def lt_(self, other: Any) -> TensorT:
        return self._inplace("lt_", _ops().lt, other)

    def le_(self, other: Any) -> TensorT:
        return self._inplace("le_", _ops().le, other)

    def gt_(self, other: Any) -> TensorT:
        return self._inplace("gt_", _ops().gt, other)

    def ge_(self, other: Any) -> TensorT:
        return self._inplace("ge_", _ops().ge, other)

    not_equal_, less_, less_equal_, greater_, greater_equal_ = ne_, lt_, le_, gt_, ge_

    def equal(self, other: Any) -> _bool:
        return _bool(_ops().equal(self, other))

    def isclose(
        self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: _bool = False
    ) -> TensorT:
        return _ops().isclose(self, other, rtol, atol, equal_nan)

    def allclose(
        self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: _bool = False
    ) -> _bool:
        return _bool(_ops().allclose(self, other, rtol, atol, equal_nan))

    def isnan(self) -> TensorT:
        return _ops().isnan(self)

    def isinf(self) -> TensorT:
        return _ops().isinf(self)

    def isfinite(self) -> TensorT:
        return _ops().isfinite(self)

    def logical_and(self, other: Any) -> TensorT:
        return _ops().logical_and(self, other)

    def logical_or(self, other: Any) -> TensorT:
        return _ops().logical_or(self, other)

    def logical_xor(self, other: Any) -> TensorT:
        return _ops().logical_xor(self, other)

    def logical_not(self) -> TensorT:
        return _ops().logical_not(self)

    def logical_and_(self, other: Any) -> TensorT:
        return self._inplace("logical_and_", _ops().logical_and, other)

    def logical_or_(self, other: Any) -> TensorT:
        return self._inplace("logical_or_", _ops().logical_or, other)

    def logical_xor_(self, other: Any) -> TensorT:
        return self._inplace("logical_xor_", _ops().logical_xor, other)

    def logical_not_(self) -> TensorT:
        return self._inplace("logical_not_", _ops().logical_not)

    def where(self, condition: Any, other: Any) -> TensorT:
        """``self`` where ``condition`` holds, ``other`` elsewhere (``where(condition, self, other)``)."""
        return _ops().where(condition, self, other)

    # ----------------------------------------------------------------------------------------------
    # Arithmetic
    def add(self, other: Any, *, alpha: Any = 1) -> TensorT:
        return _ops().add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> TensorT:
        return _ops().sub(self, other, alpha=alpha)

    def mul(self, other: Any) -> TensorT:
        return _ops().mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> TensorT:
        return _ops().div(self, other, rounding_mode=rounding_mode)

    def true_divide(self, other: Any) -> TensorT:
        return _ops().div(self, other)

    def floor_divide(self, other: Any) -> TensorT:
        return _ops().floor_divide(self, other)

    def remainder(self, other: Any) -> TensorT:
        return _ops().remainder(self, other)

    def fmod(self, other: Any) -> TensorT:
        return _ops().fmod(self, other)

    def pow(self, exponent: Any) -> TensorT:
        return _ops().pow(self, exponent)

    def maximum(self, other: Any) -> TensorT:
        return _ops().maximum(self, other)

    def minimum(self, other: Any) -> TensorT:
        return _ops().minimum(self, other)

    subtract, multiply, divide = sub, mul, div

    def add_(self, other: Any, *, alpha: Any = 1) -> TensorT:
        return self._inplace("add_", _ops().add, other, alpha=alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> TensorT:
        return self._inplace("sub_", _ops().sub, other, alpha=alpha)

    def mul_(self, other: Any) -> TensorT:
        return self._inplace("mul_", _ops().mul, other)

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> TensorT:
        return self._inplace("div_", _ops().div, other, rounding_mode=rounding_mode)

    def true_divide_(self, other: Any) -> TensorT:
        return self._inplace("true_divide_", _ops().div, other)

    def floor_divide_(self, other: Any) -> TensorT:
        return self._inplace("floor_divide_", _ops().floor_divide, other)

    def remainder_(self, other: Any) -> TensorT:
        return self._inplace("remainder_", _ops().remainder, other)

    def fmod_(self, other: Any) -> TensorT:
        return self._inplace("fmod_", _ops().fmod, other)

    def pow_(self, exponent: Any) -> TensorT:
        return self._inplace("pow_", _ops().pow, exponent)

    subtract_, multiply_, divide_ = sub_, mul_, div_

    def __iadd__(self, other: Any) -> TensorT:
        return self.add_(other)

    def __isub__(self, other: Any) -> TensorT:
        return self.sub_(other)

    def __imul__(self, other: Any) -> TensorT:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> TensorT:
        return self.div_(other)

    def __ifloordiv__(self, other: Any) -> TensorT:
        return self.floor_divide_(other)

    def __imod__(self, other: Any) -> TensorT:
        return self.remainder_(other)

    def __ipow__(self, exponent: Any) -> TensorT:
        return self.pow_(exponent)

    # ----------------------------------------------------------------------------------------------
    # Pointwise functions of one tensor
    def neg(self) -> TensorT:
        return _ops().neg(self)

    def abs(self) -> TensorT:
        return _ops().abs(self)

    def sign(self) -> TensorT:
        return _ops().sign(self)

    def reciprocal(self) -> TensorT:
        return _ops().reciprocal(self)

    def sqrt(self) -> TensorT:
        return _ops().sqrt(self)

    def rsqrt(self) -> TensorT:
        return _ops().rsqrt(self)

    def square(self) -> TensorT:
        return _ops().square(self)

    def exp(self) -> TensorT:
        return _ops().exp(self)

    def expm1(self) -> TensorT:
        return _ops().expm1(self)

    def log(self) -> TensorT:
        return _ops().log(self)

    def log2(self) -> TensorT:
        return _ops().log2(self)

    def log10(self) -> TensorT:
        return _ops().log10(self)

    def log1p(self) -> TensorT:
        return _ops().log1p(self)

    def sin(self) -> TensorT:
        return _ops().sin(self)

    def cos(self) -> TensorT:
        return _ops().cos(self)

    def sigmoid(self) -> TensorT:
        return _ops().sigmoid(self)

    def tanh(self) -> TensorT:
        return _ops().tanh(self)

    def relu(self) -> TensorT:
        return _ops().relu(self)

    def clamp(self, min: Any = None, max: Any = None) -> TensorT:
        return _ops().clamp(self, min, max)

    def clamp_min(self, min: Any) -> TensorT:
        return _ops().clamp(self, min, None)

    def clamp_max(self, max: Any) -> TensorT:
        return _ops().clamp(self, None, max)

    def floor(self) -> TensorT:
        return _ops().floor(self)

    def ceil(self) -> TensorT:
        return _ops().ceil(self)

    def trunc(self) -> TensorT:
        return _ops().trunc(self)

    def round(self, *, decimals: int = 0) -> TensorT:
        return _ops().round(self, decimals=decimals)

    negative, absolute, clip = neg, abs, clamp

    def neg_(self) -> TensorT:
        return self._inplace("neg_", _ops().neg)

    def abs_(self) -> TensorT:
        return self._inplace("abs_", _ops().abs)

    def sign_(self) -> TensorT:
        return self._inplace("sign_", _ops().sign)

    def reciprocal_(self) -> TensorT:
        return self._inplace("reciprocal_", _ops().reciprocal)

    def sqrt_(self) -> TensorT:
        return self._inplace("sqrt_", _ops().sqrt)

    def rsqrt_(self) -> TensorT:
        return self._inplace("rsqrt_", _ops().rsqrt)

    def square_(self) -> TensorT:
        return self._inplace("square_", _ops().square)

    def exp_(self) -> TensorT:
        return self._inplace("exp_", _ops().exp)

    def expm1_(self) -> TensorT:
        return self._inplace("expm1_", _ops().expm1)

    def log_(self) -> TensorT:
        return self._inplace("log_", _ops().log)

    def log2_(self) -> TensorT:
        return self._inplace("log2_", _ops().log2)

    def log10_(self) -> TensorT:
        return self._inplace("log10_", _ops().log10)

    def log1p_(self) -> TensorT:
        return self._inplace("log1p_", _ops().log1p)

    def sin_(self) -> TensorT:
        return self._inplace("sin_", _ops().sin)

    def cos_(self) -> TensorT:
        return self._inplace("cos_", _ops().cos)

    def sigmoid_(self) -> TensorT:
        return self._inplace("sigmoid_", _ops().sigmoid)

    def tanh_(self) -> TensorT:
        return self._inplace("tanh_", _ops().tanh)

    def relu_(self) -> TensorT:
        return self._inplace("relu_", _ops().relu)

    def clamp_(self, min: Any = None, max: Any = None) -> TensorT:
        return self._inplace("clamp_", _ops().clamp, min, max)

    def clamp_min_(self, min: Any) -> TensorT:
        return self._inplace("clamp_min_", _ops().clamp, min, None)

    def clamp_max_(self, max: Any) -> TensorT:
        return self._inplace("clamp_max_", _ops().clamp, None, max)

    def floor_(self) -> TensorT:
        return self._inplace("floor_", _ops().floor)

    def ceil_(self) -> TensorT:
        return self._inplace("ceil_", _ops().ceil)

    def trunc_(self) -> TensorT:
        return self._inplace("trunc_", _ops().trunc)

    def round_(self, *, decimals: int = 0) -> TensorT:
        return self._inplace("round_", _ops().round, decimals=decimals)

    negative_, absolute_, clip_ = neg_, abs_, clamp_

    # ----------------------------------------------------------------------------------------------
    # Products
    def matmul(self, other: Any) -> TensorT:
        return _ops().matmul(self, other)

    def mm(self, other: Any) -> TensorT:
        return _ops().mm(self, other)

    def bmm(self, other: Any) -> TensorT:
        return _ops().bmm(self, other)

    def mv(self, other: Any) -> TensorT:
        return _ops().mv(self, other)

    def dot(self, other: Any) -> TensorT:
        return _ops().dot(self, other)
