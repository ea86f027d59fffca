"""KIMODO's ``TrajectoryCorrector``: smooth correction of a multi-channel curve toward sparse targets.

A reference curve ``x_ref [N, C]`` (a root path, a joint's 6-channel rotation, ...) is moved onto
targets on some frames while the *change* ``x - x_ref`` stays smooth elsewhere: it minimises

    (x - x_ref)^T (wp I + wv V^T V + wa A^T A) (x - x_ref)

(``V`` first difference ``[N-1, N]``, ``A`` second difference ``-x_i + 2 x_{i+1} - x_{i+2}``
``[N-2, N]``, the same for every channel) subject to pins (``x_i = target_i``) and balls
(``|x_i - target_i|_2 <= margin_i``). Reference section 1.8.

The quadratic form is pentadiagonal and stays so after pinned frames are removed, so one banded
Cholesky factorisation serves every channel and every ADMM iteration.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import sparse
from scipy.linalg import cho_solve_banded, cholesky_banded

from motiongen.errors import InputError

#: ADMM iterations for the ball constraints (KIMODO's count).
ADMM_ITERATIONS = 100
#: A ball frame still outside its ball by more than this fraction of the radius after ADMM is pinned
#: to its projection in one more solve (see :func:`correct_trajectory`).
POLISH_TOLERANCE = 0.01


def _as_matrix(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` as float64 ``[N, C]`` (a ``[N]`` vector becomes one channel)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"expected an [N, C] array, got shape {arr.shape}", field=name)
    return arr


def quadratic_form(num_frames: int, weights: tuple[float, float, float]) -> sparse.csc_matrix:
    """``Q = wp I + wv VᵀV + wa AᵀA`` ``[N, N]`` (sparse, symmetric, 5 bands).

    ``V`` and ``A`` simply have no rows when ``N < 2`` / ``N < 3``, so ``Q`` degrades to ``wp I``.
    Returns a fresh copy of a cached matrix (building it with scipy.sparse costs more than solving).
    """
    return _quadratic_form(int(num_frames), tuple(float(w) for w in weights)).copy()


@functools.lru_cache(maxsize=64)
def _quadratic_form(n: int, weights: tuple[float, ...]) -> sparse.csc_matrix:
    wp, wv, wa = weights
    eye = sparse.identity(n, format="csc")
    q = wp * eye
    if n >= 2:
        v = sparse.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n), format="csc")
        q = q + wv * (v.T @ v)
    if n >= 3:
        a = sparse.diags([-np.ones(n - 2), 2 * np.ones(n - 2), -np.ones(n - 2)], [0, 1, 2], shape=(n - 2, n), format="csc")
        q = q + wa * (a.T @ a)
    return sparse.csc_matrix(q)


def _upper_bands(q: sparse.spmatrix, bandwidth: int = 2) -> np.ndarray:
    """Upper banded storage ``[bandwidth + 1, n]`` of a symmetric matrix, as ``cholesky_banded`` wants.

    Removing rows and columns of a pentadiagonal matrix keeps it pentadiagonal (indices only get
    closer), so bandwidth 2 holds for every principal submatrix of ``Q``.
    """
    n = q.shape[0]
    bands = np.zeros((bandwidth + 1, n))
    for k in range(min(bandwidth, n - 1) + 1):
        bands[bandwidth - k, k:] = q.diagonal(k)
    return bands


def _check_weights(weights: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(weights) != 3:
        raise InputError(f"weights must be (wp, wv, wa), got {weights}", field="weights")
    wp, wv, wa = (float(w) for w in weights)
    # wp > 0 keeps Q positive definite (the difference operators alone annihilate constants)
    if not (math.isfinite(wp) and wp > 0 and math.isfinite(wv) and wv >= 0 and math.isfinite(wa) and wa >= 0):
        raise InputError(f"weights must be finite with wp > 0 and wv, wa >= 0, got {weights}", field="weights")
    return wp, wv, wa


def _project_to_balls(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Nearest points ``[M, C]`` inside the balls ``|p - centre| <= radius``."""
    d = points - centres
    norm = np.linalg.norm(d, axis=1)
    # radius / max(|d|, radius) is exactly 1 inside the ball
    scale = radii / np.maximum(norm, radii)
    return centres + d * scale[:, None]


def correct_trajectory(
    reference: np.ndarray,
    target: np.ndarray,
    margin: np.ndarray,
    weights: tuple[float, float, float] = (0.01, 1.0, 10.0),
    iterations: int = ADMM_ITERATIONS,
    *,
    polish: bool = True,
) -> np.ndarray:
    """Smoothly correct ``reference [N, C]`` onto ``target [N, C]`` where ``margin [N]`` asks.

    Args:
        reference: ``[N, C]`` (or ``[N]``) curve to correct; must be finite.
        target: ``[N, C]`` (or ``[N]``) targets; read only on constrained frames (others may be NaN).
        margin: ``[N]`` per frame: ``0`` pins the frame to its target; ``> 0`` keeps it inside the
            C-dimensional ball of that radius around the target; NaN or ``< 0`` leaves it free.
        weights: ``(wp, wv, wa)`` on the change itself, its velocity and its acceleration.
        iterations: ADMM iterations when there are ball constraints.
        polish: our addition to KIMODO. ADMM returns its last x iterate, which on hard problems
            (targets far from the reference, or jumping from frame to frame) can still sit
            centimetres outside a ball after 100 iterations. When a ball frame is outside by more
            than ``POLISH_TOLERANCE`` of its radius, those frames are pinned to their projection onto
            the ball and the problem is solved once more (the other balls by ADMM again); the
            polished result is kept only if its worst violation is smaller. On well-posed problems
            ADMM converges (violations ~1e-6 of the radius) and nothing changes.

    Returns:
        ``[N, C]`` float64 (the shape of ``reference``). Pins hold exactly; balls hold to ADMM
        accuracy. Without pins and balls the reference comes back unchanged.
    """
    ref = _as_matrix(reference, "reference")
    squeeze = np.asarray(reference).ndim == 1
    tgt = _as_matrix(target, "target")
    n, c = ref.shape
    if tgt.shape != (n, c):
        raise InputError(f"target has shape {tgt.shape}; expected {(n, c)} like reference", field="target")
    mrg = np.asarray(margin, dtype=np.float64).reshape(-1)
    if mrg.shape != (n,):
        raise InputError(f"margin has shape {np.shape(margin)}; expected [{n}]", field="margin")
    if not np.isfinite(ref).all():
        raise InputError("reference contains NaN or inf", field="reference")
    if np.isinf(mrg).any():
        raise InputError("margin contains inf; use NaN or a negative value for a free frame", field="margin")
    if int(iterations) != iterations or iterations < 0:
        raise InputError(f"iterations must be a non-negative integer, got {iterations}", field="iterations")
    weights = _check_weights(weights)

    pinned = mrg == 0
    balls = mrg > 0  # NaN compares False: free
    constrained = pinned | balls
    if not constrained.any():
        return ref.copy() if not squeeze else ref[:, 0].copy()
    if not np.isfinite(tgt[constrained]).all():
        bad = int(np.flatnonzero(~np.isfinite(tgt).all(axis=1) & constrained)[0])
        raise InputError(f"target is NaN or inf on constrained frame {bad}", field="target")

    out = ref.copy()
    out[pinned] = tgt[pinned]
    free = ~pinned
    if free.any():
        out[free] = _solve_free(ref, tgt, mrg, pinned, balls, weights, int(iterations))
    if polish and balls.any():
        out = _polish(out, ref, tgt, mrg, balls, weights, int(iterations))
    return out[:, 0] if squeeze else out


def _ball_violation(x: np.ndarray, tgt: np.ndarray, margin: np.ndarray, balls: np.ndarray) -> np.ndarray:
    """Distance ``[M]`` outside each ball (<= 0 inside)."""
    return np.linalg.norm(x[balls] - tgt[balls], axis=1) - margin[balls]


def _polish(
    out: np.ndarray,
    ref: np.ndarray,
    tgt: np.ndarray,
    margin: np.ndarray,
    balls: np.ndarray,
    weights: tuple[float, float, float],
    iterations: int,
) -> np.ndarray:
    """Pin badly violated ball frames to their projection and solve again (see ``polish``)."""
    violation = _ball_violation(out, tgt, margin, balls)
    bad = violation > POLISH_TOLERANCE * margin[balls]
    if not bad.any():
        return out
    frames = np.flatnonzero(balls)[bad]
    new_margin = margin.copy()
    new_margin[frames] = 0.0
    new_target = tgt.copy()
    new_target[frames] = _project_to_balls(out[frames], tgt[frames], margin[frames])
    again = correct_trajectory(ref, new_target, new_margin, weights, iterations, polish=False)
    if _ball_violation(again, tgt, margin, balls).max() < violation.max():
        return again
    return out


def _solve_free(
    ref: np.ndarray,
    tgt: np.ndarray,
    margin: np.ndarray,
    pinned: np.ndarray,
    balls: np.ndarray,
    weights: tuple[float, float, float],
    iterations: int,
) -> np.ndarray:
    """The non-pinned frames ``[F, C]`` of the constrained minimiser.

    With ``y = x_F - r_F`` and the pins' change ``d_P = t_P - r_P`` the objective is
    ``½ yᵀ Q_FF y + yᵀ Q_FP d_P`` (+ const). Balls on the subset ``M`` of F are split off by scaled
    ADMM: x-step ``(Q_FF + rho SᵀS) y = -Q_FP d_P + rho Sᵀ(z - u - r_M)``, z-step the ball
    projection of ``x_M + u``, u-step ``u += x_M - z``.
    """
    q = quadratic_form(len(ref), weights)
    free = ~pinned
    q_ff = q[free][:, free]
    rhs0 = np.zeros((int(free.sum()), ref.shape[1]))
    if pinned.any():
        rhs0 = -(q[free][:, pinned] @ (tgt[pinned] - ref[pinned]))
    ref_f = ref[free]
    ball_f = balls[free]
    if not ball_f.any():
        return ref_f + cho_solve_banded((cholesky_banded(_upper_bands(q_ff)), False), rhs0)

    rho = 0.5 * math.sqrt(float(q_ff.diagonal().max()))
    system = q_ff + sparse.diags(rho * ball_f.astype(np.float64), format="csc")
    factor = (cholesky_banded(_upper_bands(system)), False)
    centres = tgt[balls]
    radii = margin[balls]
    # start from the pins-only optimum: on short clips it is often feasible already
    y = cho_solve_banded((cholesky_banded(_upper_bands(q_ff)), False), rhs0)
    z = _project_to_balls(ref_f[ball_f] + y[ball_f], centres, radii)
    u = np.zeros_like(z)
    for _ in range(iterations):
        rhs = rhs0.copy()
        rhs[ball_f] += rho * (z - u - ref_f[ball_f])
        y = cho_solve_banded(factor, rhs)
        x_m = ref_f[ball_f] + y[ball_f]
        z = _project_to_balls(x_m + u, centres, radii)
        u += x_m - z
    return ref_f + y


def smooth_boundaries(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """KIMODO's ``SmoothChannels``: average out a value at the edges of each masked run.

    A frame ``i`` is a boundary frame when ``mask[i]`` is true and at least one existing neighbour
    (``i - 1`` or ``i + 1``) is false. Its value becomes ``(values[i-1] + values[i+1]) / 2``, read
    from the *input* (all boundary frames are replaced at once, so the result does not depend on an
    order). The first and last frames have one neighbour only and are left as they are.

    Why: a generator that in-paints constrained frames often leaves a spike on them; the corrector
    propagates ``target - reference`` smoothly to the neighbours, so a spike in the reference would
    survive it. Replacing the reference there by its neighbours' mean removes the spike before the
    pin puts the exact target back.

    Args:
        values: ``[N, C]`` (or ``[N]``) reference curve.
        mask: ``[N]`` bool constrained frames.

    Returns:
        ``[N, C]`` float64 copy.
    """
    source = np.asarray(values, dtype=np.float64)
    vals = source.copy()
    m = np.asarray(mask, dtype=bool).reshape(-1)
    if m.shape[0] != vals.shape[0]:
        raise InputError(f"mask has {m.shape[0]} frames but values have {vals.shape[0]}", field="mask")
    n = len(m)
    if n < 3:
        return vals
    inner = np.arange(1, n - 1)
    boundary = m[inner] & (~m[inner - 1] | ~m[inner + 1])
    idx = inner[boundary]
    if idx.size:
        vals[idx] = 0.5 * (source[idx - 1] + source[idx + 1])
    return vals
