"""Mean/std statistics of the evaluator feature formats (reference 1.9 and 2.7).

Both formats publish ``Mean.npy`` / ``Std.npy`` taken over every row of their dataset, with each std
value replaced by the mean std of its block (7 blocks for 263, 5 for 272), so a block is scaled
as a whole. :func:`feature_statistics` computes them the same way; :func:`normalize` /
:func:`denormalize` apply them. The frozen T2M evaluator of ``text-to-motion`` normalises with its
own ``meta`` files, which by that repository's code are the 263 statistics with the std of dims
0..3 and 259..262 divided by ``feat_bias = 5`` (:func:`t2m_evaluator_std`); the reference could not
check this against the real meta files, so prefer them when you have them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from motiongen.errors import InputError
from motiongen.features.hml263 import HML263_BLOCKS, HML263_DIM
from motiongen.features.ms272 import MS272_BLOCKS, MS272_DIM

#: Blocks whose std values are averaged, per format.
STD_BLOCKS: dict[str, Mapping[str, slice]] = {"hml263": HML263_BLOCKS, "ms272": MS272_BLOCKS}
FEATURE_DIMS = {"hml263": HML263_DIM, "ms272": MS272_DIM}
#: ``text-to-motion``'s ``feat_bias``: how much less weight the root and contact dims get.
T2M_FEAT_BIAS = 5.0


def _blocks(fmt: str) -> Mapping[str, slice]:
    if fmt not in STD_BLOCKS:
        raise InputError(f"unknown feature format '{fmt}'; known: {', '.join(STD_BLOCKS)}", field="format")
    return STD_BLOCKS[fmt]


def feature_statistics(features: Iterable[np.ndarray], fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and block-averaged std ``[D]`` over all rows of ``features`` (each ``[T_i, D]``).

    Arrays with NaN are skipped (the reference skips its NaN clips). Raises if nothing is left.
    """
    blocks = _blocks(fmt)
    dim = FEATURE_DIMS[fmt]
    rows = []
    for array in features:
        array = np.asarray(array, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != dim:
            raise InputError(f"has shape {array.shape}; expected [T, {dim}]", field="features")
        if np.isfinite(array).all():
            rows.append(array)
    if not rows:
        raise InputError("no finite feature rows to take statistics of", field="features")
    stacked = np.concatenate(rows)
    mean = stacked.mean(0)
    std = stacked.std(0)
    for block in blocks.values():
        std[block] = std[block].mean()
    return mean, std


def check_statistics(mean: np.ndarray, std: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """``mean`` and ``std`` as float64 ``[D]`` after checking their shape and that std is positive."""
    _blocks(fmt)
    dim = FEATURE_DIMS[fmt]
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.shape != (dim,) or std.shape != (dim,):
        raise InputError(f"mean {mean.shape} and std {std.shape}; expected ({dim},) each", field="statistics")
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise InputError("mean and std must be finite and std positive", field="statistics")
    return mean, std


def normalize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(features - mean) / std`` for features ``[..., D]`` (the evaluators' input)."""
    return (np.asarray(features) - mean) / std


def denormalize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``features * std + mean``: the inverse of :func:`normalize`."""
    return np.asarray(features) * std + mean


def t2m_evaluator_std(std: np.ndarray, feat_bias: float = T2M_FEAT_BIAS) -> np.ndarray:
    """The std ``text-to-motion`` writes for its evaluator: the 263 ``Std.npy`` with dims 0..3 (root)
    and 259..262 (contacts) divided by ``feat_bias`` (unconfirmed against the real meta files)."""
    std = np.array(std, dtype=np.float64)
    if std.shape != (HML263_DIM,):
        raise InputError(f"has shape {std.shape}; expected ({HML263_DIM},)", field="std")
    std[0:4] /= feat_bias
    std[HML263_BLOCKS["foot_contacts"]] /= feat_bias
    return std
