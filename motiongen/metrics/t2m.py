"""Text-to-motion metrics of the HumanML3D protocol (Guo et al. 2022) on evaluator embeddings.

Reference ``smog.md`` sections 8.3 and 8.5. Every function takes embeddings that an evaluator (text
and motion encoders) has already produced, so the numbers depend on that evaluator: scores from
different evaluators cannot be compared with each other. Randomness comes only from an explicit
``np.random.Generator``; pair shuffling is the caller's job (R-precision and MM-Dist take the pairs
in the order given).

- :func:`fid` / :func:`frechet_distance`: Fréchet distance between Gaussian fits of two sets.
- :func:`r_precision`: text-to-motion top-k retrieval within batches of 32 (chance: k / 32).
- :func:`matching_score`: MM-Dist, the mean text-to-motion distance of matched pairs.
- :func:`diversity`, :func:`multimodality`: mean distance between random pairs of motions.
- :func:`mean_and_interval`: the mean and 95 % interval over replications.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist
from scipy.stats import norm

from motiongen.errors import InputError

#: Pairs per R-precision batch; the protocol fixes it because R-precision depends on it.
R_PRECISION_BATCH = 32
#: Added to both covariance diagonals when ``sqrtm`` of their product is not finite.
FID_EPS = 1e-6
#: Largest imaginary part ``sqrtm`` may leave before the Fréchet distance is refused.
FID_MAX_IMAGINARY = 1e-3
#: Protocol sizes: diversity pairs, multimodality pairs per caption.
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


def _as_matrix(x: np.ndarray, field: str) -> np.ndarray:
    """``x`` as a finite float64 ``[N, D]`` array with ``N, D >= 1``; raises :class:`InputError`."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"expected a non-empty [N, D] array, got shape {arr.shape}", field=field)
    if not np.isfinite(arr).all():
        raise InputError("contains NaN or inf", field=field)
    return arr


def _as_pairs(text_emb: np.ndarray, motion_emb: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Checked ``[N, D]`` text and motion embeddings and the number of samples the full batches use."""
    text = _as_matrix(text_emb, "text_emb")
    motion = _as_matrix(motion_emb, "motion_emb")
    if text.shape != motion.shape:
        raise InputError(
            f"text_emb {text.shape} and motion_emb {motion.shape} must have the same shape [N, D]", field="motion_emb"
        )
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
    if text.shape[0] < batch_size:
        raise InputError(
            f"{text.shape[0]} pairs do not fill one batch of {batch_size}; need at least {batch_size}",
            field="text_emb",
        )
    used = (text.shape[0] // batch_size) * batch_size
    return text, motion, used


# ==================================================================================================
# FID
# ==================================================================================================
def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``|mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2))`` with means ``[D]`` and covariances
    ``[D, D]``. As in Guo's code: when ``sqrtm`` is not finite, ``1e-6 I`` is added to both covariances
    and it is taken again; the real part is kept. Raises :class:`InputError` when the imaginary part
    left over exceeds ``1e-3`` in absolute value anywhere (Guo checks only the diagonal), which
    happens with near-singular covariances, i.e. too few samples for the dimension.
    """
    m1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    m2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    dim = m1.shape[0]
    expected = {"mu1": (m1, (dim,)), "mu2": (m2, (dim,)), "sigma1": (s1, (dim, dim)), "sigma2": (s2, (dim, dim))}
    for name, (value, shape) in expected.items():
        if value.shape != shape:
            raise InputError(f"shape {value.shape} does not match the mean's dimension; expected {shape}", field=name)
        if not np.isfinite(value).all():
            raise InputError("contains NaN or inf", field=name)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(dim) * FID_EPS
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imaginary = float(np.max(np.abs(covmean.imag)))
        if imaginary > FID_MAX_IMAGINARY:
            raise InputError(
                f"sqrtm(sigma1 sigma2) has an imaginary part of {imaginary:.3g} (> {FID_MAX_IMAGINARY}); "
                "the covariances are near-singular: use more samples than embedding dimensions",
                field="sigma1",
            )
        covmean = covmean.real
    diff = m1 - m2
    # the distance is >= 0; rounding leaves identical sets a hair below
    return max(0.0, float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)))


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """FID between embedding sets ``real [N, D]`` and ``generated [M, D]`` (``N, M >= 2``).

    Means and ``np.cov(rowvar=False)`` covariances (``ddof = 1``) of each set, then
    :func:`frechet_distance`.
    """
    a = _as_matrix(real, "real")
    b = _as_matrix(generated, "generated")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"real has D = {a.shape[1]} but generated has D = {b.shape[1]}", field="generated")
    for value, name in ((a, "real"), (b, "generated")):
        if value.shape[0] < 2:
            raise InputError(f"a covariance needs at least 2 embeddings, got {value.shape[0]}", field=name)
    sigma1 = np.atleast_2d(np.cov(a, rowvar=False))
    sigma2 = np.atleast_2d(np.cov(b, rowvar=False))
    return frechet_distance(a.mean(axis=0), sigma1, b.mean(axis=0), sigma2)


# ==================================================================================================
# Retrieval: R-precision and MM-Dist
# ==================================================================================================
def euclidean_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances ``[N, M]`` between the rows of ``a [N, D]`` and ``b [M, D]``.

    Computed by ``scipy.spatial.distance.cdist``, which (unlike Guo's expanded-square formula) never
    takes the square root of a slightly negative rounding error.
    """
    x = _as_matrix(a, "a")
    y = _as_matrix(b, "b")
    if x.shape[1] != y.shape[1]:
        raise InputError(f"a has D = {x.shape[1]} but b has D = {y.shape[1]}", field="b")
    return cdist(x, y, metric="euclidean")


def r_precision(
    text_emb: np.ndarray, motion_emb: np.ndarray, batch_size: int = R_PRECISION_BATCH, top_k: int = 3
) -> np.ndarray:
    """Text-to-motion R-precision: hit rate per ``k = 1..top_k``, ``[top_k]``.

    Pair ``i`` is ``(text_emb[i], motion_emb[i])``, both ``[N, D]``. The pairs are taken in the given
    order (the caller shuffles them) in consecutive batches of ``batch_size``; the tail that does not
    fill a batch is dropped (the protocol's ``drop_last``). In each batch the text-rows x
    motion-columns distance matrix is argsorted row by row (ascending); pair ``i`` is a top-k hit
    when motion ``i`` is among the first ``k`` of row ``i``, so the rates are cumulative in ``k``.
    Hits are divided by the number of samples used. Chance level: :func:`chance_r_precision`.
    """
    text, motion, used = _as_pairs(text_emb, motion_emb, batch_size)
    if not 1 <= top_k <= batch_size:
        raise InputError(f"top_k must be in 1..{batch_size} (batch_size), got {top_k}", field="top_k")
    hits = np.zeros(top_k, dtype=np.int64)
    for start in range(0, used, batch_size):
        distances = euclidean_distance_matrix(text[start : start + batch_size], motion[start : start + batch_size])
        order = np.argsort(distances, axis=1)[:, :top_k]
        found = order == np.arange(batch_size)[:, None]
        hits += np.cumsum(found, axis=1).astype(bool).sum(axis=0)
    return hits / used


def matching_score(text_emb: np.ndarray, motion_emb: np.ndarray, batch_size: int = R_PRECISION_BATCH) -> float:
    """MM-Dist: mean ``|text_emb[i] - motion_emb[i]|`` over the samples :func:`r_precision` uses.

    ``text_emb``, ``motion_emb`` ``[N, D]``; the last ``N mod batch_size`` pairs are dropped, as the
    protocol sums the traces of the full batches' distance matrices and divides by their samples.
    """
    text, motion, used = _as_pairs(text_emb, motion_emb, batch_size)
    return float(np.linalg.norm(text[:used] - motion[:used], axis=1).mean())


def chance_r_precision(batch_size: int = R_PRECISION_BATCH, top_k: int = 3) -> list[float]:
    """R-precision of random retrieval: ``[k / batch_size for k = 1..top_k]``."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
    if not 1 <= top_k <= batch_size:
        raise InputError(f"top_k must be in 1..{batch_size} (batch_size), got {top_k}", field="top_k")
    return [k / batch_size for k in range(1, top_k + 1)]


# ==================================================================================================
# Diversity and multimodality
# ==================================================================================================
def diversity(emb: np.ndarray, num_pairs: int = DIVERSITY_PAIRS, *, rng: np.random.Generator) -> float:
    """Mean distance between ``num_pairs`` random pairs of embeddings ``emb [N, D]``.

    Two index sets of ``num_pairs`` are drawn, each without replacement and independently of each
    other, and ``|emb[a_i] - emb[b_i]|`` is averaged. Needs ``N >= num_pairs`` (Guo's code asserts
    ``N > num_pairs``; ``N == num_pairs`` is well defined, so it is allowed here).
    """
    x = _as_matrix(emb, "emb")
    if num_pairs < 1:
        raise InputError(f"num_pairs must be >= 1, got {num_pairs}", field="num_pairs")
    if x.shape[0] < num_pairs:
        raise InputError(
            f"diversity draws {num_pairs} embeddings without replacement but only {x.shape[0]} were given; "
            f"need at least {num_pairs}",
            field="emb",
        )
    first = rng.choice(x.shape[0], num_pairs, replace=False)
    second = rng.choice(x.shape[0], num_pairs, replace=False)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(emb: np.ndarray, num_pairs: int = MULTIMODALITY_PAIRS, *, rng: np.random.Generator) -> float:
    """Mean distance between motions generated for the same caption, ``emb [C, R, D]``.

    ``C`` captions x ``R`` repeats (protocol: 100 x 30). For every caption two index sets of
    ``num_pairs`` (protocol: 10) are drawn from its ``R`` repeats, each without replacement, and the
    distance is averaged over all ``C * num_pairs`` pairs. Guo's code draws one pair of index sets
    shared by all captions; drawing per caption (reference 8.3) has the same expectation.
    """
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 3 or 0 in x.shape:
        raise InputError(f"expected a non-empty [C, R, D] array, got shape {x.shape}", field="emb")
    if not np.isfinite(x).all():
        raise InputError("contains NaN or inf", field="emb")
    if num_pairs < 1:
        raise InputError(f"num_pairs must be >= 1, got {num_pairs}", field="num_pairs")
    captions, repeats = x.shape[:2]
    if repeats < num_pairs:
        raise InputError(
            f"multimodality draws {num_pairs} of each caption's repeats without replacement but there are "
            f"only {repeats}; need at least {num_pairs}",
            field="emb",
        )
    first = np.stack([rng.choice(repeats, num_pairs, replace=False) for _ in range(captions)])
    second = np.stack([rng.choice(repeats, num_pairs, replace=False) for _ in range(captions)])
    rows = np.arange(captions)[:, None]
    return float(np.linalg.norm(x[rows, first] - x[rows, second], axis=-1).mean())


# ==================================================================================================
# Replications
# ==================================================================================================
def mean_and_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean and symmetric confidence half-width of a metric over replications.

    ``interval = z * std / sqrt(n)`` with ``std`` the **population** standard deviation
    (``np.std``, ``ddof = 0``), as Guo's ``get_metric_statistics`` does, and ``z`` the two-sided
    normal quantile rounded to two decimals as in printed tables, so ``confidence = 0.95`` gives the
    protocol's ``1.96``. With one value the interval is 0.

    Returns ``{"mean", "std", "interval", "n", "values"}`` (``values`` as a list of floats).
    """
    x = np.asarray(list(values), dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise InputError(f"expected a non-empty list of numbers, got shape {x.shape}", field="values")
    if not np.isfinite(x).all():
        raise InputError("contains NaN or inf", field="values")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be in (0, 1), got {confidence}", field="confidence")
    z = round(float(norm.ppf(0.5 + confidence / 2.0)), 2)
    std = float(np.std(x))
    return {
        "mean": float(x.mean()),
        "std": std,
        "interval": z * std / math.sqrt(x.size),
        "n": int(x.size),
        "values": [float(v) for v in x],
    }
