"""L-BFGS: a quasi-Newton method that builds a curvature model from the last few steps and gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ember.autograd import Tensor, enable_grad, from_numpy, no_grad
from ember.optim.optimizer import Optimizer, Params, check_non_negative


class LBFGS(Optimizer):
    r"""Limited-memory BFGS (Nocedal, *Updating quasi-Newton matrices with limited storage*, Math. Comp. 1980;
    Liu & Nocedal, *On the limited memory BFGS method for large scale optimization*, Math. Prog. 1989).

    Newton's step ``x -= H^-1 dx`` without forming the Hessian: the inverse is approximated from the last
    ``history_size`` pairs ``s = x_{k+1} - x_k``, ``y = dx_{k+1} - dx_k`` by the two-loop recursion (Nocedal &
    Wright, *Numerical Optimization*, Algorithm 7.4), starting from ``H_0 = (s.y / y.y) I``::

        q = -dx
        for i = newest .. oldest:  a_i = rho_i s_i.q;  q -= a_i y_i        (rho_i = 1 / y_i.s_i)
        r = H_0 q
        for i = oldest .. newest:  b = rho_i y_i.r;   r += (a_i - b) s_i
        x += t r

    The step ``t`` is ``lr`` (``min(1, 1/|dx|_1) lr`` on the very first iteration), or with
    ``line_search_fn='strong_wolfe'`` one that satisfies the strong Wolfe conditions (sufficient decrease,
    ``c1 = 1e-4``, and curvature, ``c2 = 0.9``; bracketing then cubic-interpolation zoom, Nocedal & Wright
    Algorithms 3.5/3.6). A ``step(closure)`` runs up to ``max_iter`` iterations (``max_eval`` evaluations of
    ``closure``, which must recompute the loss and its gradients) and stops early when the gradient
    (``tolerance_grad``) or the change in loss or parameters (``tolerance_change``) is small. One parameter
    group only; as in PyTorch, the scalars of the recursion are float32 like the parameters.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        check_non_negative(learning_rate=lr)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', not {line_search_fn!r}")
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: list[Tensor] = self.param_groups[0]["params"]

    # ----------------------------------------------------------------------------------------------
    # The parameters as one flat vector
    def _flat_grad(self) -> np.ndarray:
        return np.concatenate(
            [
                np.zeros(p.array.size, p.dtype) if p.grad is None else p.grad.array.ravel()
                for p in self._params
            ]
        )

    def _add_to_params(self, step_size: Any, direction: np.ndarray) -> None:
        offset = 0
        for param in self._params:
            size = param.array.size
            param.array[...] += direction[offset : offset + size].reshape(param.shape) * step_size
            offset += size

    def _evaluate_at(
        self, closure: Callable[[], Any], start: list[np.ndarray], t: Any, direction: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Loss and flat gradient at ``start + t * direction``; the parameters are put back afterwards."""
        self._add_to_params(t, direction)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        for param, values in zip(self._params, start, strict=True):
            np.copyto(param.array, values)
        return loss, flat_grad

    # ----------------------------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-evaluates the loss and its gradients")
        self._opt_called = True
        with no_grad():
            return self._run(closure)

    def _run(self, closure: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            original_loss = closure()
        loss = float(original_loss)
        evaluations = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return original_loss

        memory = _Memory.from_state(state, history_size)
        d, t = memory.direction, memory.step_size
        prev_flat_grad, prev_loss = memory.prev_flat_grad, memory.prev_loss
        iteration = 0
        while iteration < max_iter:
            iteration += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                memory.reset()
            else:
                assert d is not None and prev_flat_grad is not None
                memory.remember(flat_grad - prev_flat_grad, d * t)
                d = memory.two_loop(flat_grad)
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                np.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction: stop
                break

            line_evaluations = 0
            if group["line_search_fn"] == "strong_wolfe":
                start = [p.array.copy() for p in self._params]

                def objective(start: list[np.ndarray], t: Any, d: np.ndarray) -> tuple[float, np.ndarray]:
                    return self._evaluate_at(closure, start, t, d)

                loss, flat_grad, t, line_evaluations = strong_wolfe(
                    objective, start, t, d, loss, flat_grad, gtd, max_ls=max_eval - evaluations
                )
                self._add_to_params(t, d)
                converged = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                converged = False
                if iteration != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    converged = np.abs(flat_grad).max() <= tolerance_grad
                    line_evaluations = 1
            evaluations += line_evaluations
            state["func_evals"] += line_evaluations

            if iteration == max_iter or evaluations >= max_eval or converged:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        memory.direction, memory.step_size = d, t
        memory.prev_flat_grad, memory.prev_loss = prev_flat_grad, prev_loss
        memory.save(state)
        return original_loss


class _Memory:
    """The curvature pairs (y, s), their 1/(y.s), the initial scaling H_0 and the last direction and step.

    Kept in the optimizer's state as PyTorch names them (``old_dirs`` = y, ``old_stps`` = s, ``ro``,
    ``H_diag``, ``al``, ``d``, ``t``, ``prev_flat_grad``, ``prev_loss``): arrays as tensors, scalars as Python
    floats (each holds a float32 value exactly, so reading it back changes no result).
    """

    def __init__(self, history_size: int) -> None:
        self.history_size = history_size
        self.old_dirs: list[np.ndarray] = []
        self.old_stps: list[np.ndarray] = []
        self.ro: list[Any] = []
        self.h_diag: Any = 1
        self.al: list[Any] = [None] * history_size
        self.direction: np.ndarray | None = None
        self.step_size: Any = None
        self.prev_flat_grad: np.ndarray | None = None
        self.prev_loss: float | None = None

    @classmethod
    def from_state(cls, state: dict[str, Any], history_size: int) -> _Memory:
        memory = cls(history_size)
        if "d" not in state:
            return memory
        memory.old_dirs = [y.array for y in state["old_dirs"]]
        memory.old_stps = [s.array for s in state["old_stps"]]
        memory.ro, memory.h_diag = list(state["ro"]), state["H_diag"]
        memory.al = list(state.get("al", memory.al))
        memory.direction, memory.step_size = state["d"].array, state["t"]
        memory.prev_flat_grad, memory.prev_loss = state["prev_flat_grad"].array, state["prev_loss"]
        return memory

    def save(self, state: dict[str, Any]) -> None:
        def tensor(array: np.ndarray | None) -> Tensor | None:
            return None if array is None else from_numpy(array)

        state["d"] = tensor(self.direction)
        state["t"] = _scalar(self.step_size)
        state["old_dirs"] = [tensor(y) for y in self.old_dirs]
        state["old_stps"] = [tensor(s) for s in self.old_stps]
        state["ro"] = [_scalar(r) for r in self.ro]
        state["H_diag"] = _scalar(self.h_diag)
        state["al"] = [_scalar(a) for a in self.al]
        state["prev_flat_grad"] = tensor(self.prev_flat_grad)
        state["prev_loss"] = self.prev_loss

    def reset(self) -> None:
        self.old_dirs, self.old_stps, self.ro, self.h_diag = [], [], [], 1

    def remember(self, y: np.ndarray, s: np.ndarray) -> None:
        """Add the pair if it has positive curvature (y.s > 0 keeps H positive definite)."""
        ys = y.dot(s)
        if ys > 1e-10:
            if len(self.old_dirs) == self.history_size:
                del self.old_dirs[0], self.old_stps[0], self.ro[0]
            self.old_dirs.append(y)
            self.old_stps.append(s)
            self.ro.append(1.0 / ys)
            self.h_diag = ys / y.dot(y)

    def two_loop(self, flat_grad: np.ndarray) -> np.ndarray:
        """The direction ``-H dx`` by the two-loop recursion."""
        q = -flat_grad
        for i in range(len(self.old_dirs) - 1, -1, -1):
            self.al[i] = self.old_stps[i].dot(q) * self.ro[i]
            q -= self.old_dirs[i] * self.al[i]
        r = q * self.h_diag
        for i in range(len(self.old_dirs)):
            beta = self.old_dirs[i].dot(r) * self.ro[i]
            r += self.old_stps[i] * (self.al[i] - beta)
        return r


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float) else float(value)


def cubic_interpolate(
    x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple[Any, Any] | None = None
) -> Any:
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to ``bounds``
    (Nocedal & Wright, eq. 3.59); the midpoint when the cubic has no minimum."""
    low, high = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            position = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            position = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(position, low), high)
    return (low + high) / 2.0


def strong_wolfe(
    objective: Callable[[list[np.ndarray], Any, np.ndarray], tuple[float, np.ndarray]],
    start: list[np.ndarray],
    t: Any,
    d: np.ndarray,
    f: float,
    g: np.ndarray,
    gtd: Any,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, Any, int]:
    """A step ``t`` along ``d`` satisfying the strong Wolfe conditions; returns (loss, grad, t, evaluations).

    Phase 1 (bracketing) grows ``t`` by cubic extrapolation until an interval is known to contain an
    acceptable step; phase 2 (zoom) shrinks it by cubic interpolation, guarded against steps too near its
    ends.
    """
    d_norm = np.abs(d).max()
    f_new, g_new = objective(start, t, d)
    evaluations = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    iteration = 0
    bracket: list[Any] = []
    bracket_f: list[Any] = []
    bracket_g: list[np.ndarray] = []
    bracket_gtd: list[Any] = []
    while iteration < max_ls:
        decrease_fails = f_new > f + c1 * t * gtd or (iteration > 1 and f_new >= f_prev)
        if not decrease_fails and abs(gtd_new) <= -c2 * gtd:  # both Wolfe conditions hold: done
            bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
            break
        if decrease_fails or gtd_new >= 0:  # an acceptable step lies between t_prev and t
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # extrapolate, at least 1% beyond the current step and at most ten times it
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = (
            t,
            cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)),
        )
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = objective(start, t, d)
        evaluations += 1
        gtd_new = g_new.dot(d)
        iteration += 1
    if iteration == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and iteration < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # Too close to an end of the bracket: move away (after one such step, or if t is outside it).
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                t = (
                    max(bracket) - eps
                    if abs(t - max(bracket)) < abs(t - min(bracket))
                    else min(bracket) + eps
                )
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = objective(start, t, d)
        evaluations += 1
        gtd_new = g_new.dot(d)
        iteration += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evaluations
