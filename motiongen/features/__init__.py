"""Feature formats read by persisted, published evaluators (reference ``representations.md``).

* :mod:`~motiongen.features.hml263`: HumanML3D-263 (20 fps, ``[T-1, 263]``, C6 rotations);
* :mod:`~motiongen.features.ms272`: MotionStreamer-272 (30 fps, ``[T, 272]``, R6 rotations);
* SMPL ``motion_135`` (30 fps, I6) lives in :mod:`motiongen.motion.motion_135`;
* :mod:`~motiongen.features.normalization`: the formats' block-averaged mean/std statistics;
* :mod:`~motiongen.features.export`: ``motiongen export-features``, a folder of motions to ``.npy`` files.

The three 6D layouts differ (C6 columns, R6 rows, I6 interleaved columns); every written array
carries its layout in ``features.json`` beside it.
"""

from motiongen.features.hml263 import (
    HML263_DIM,
    HML263_FPS,
    HML263_LAYOUT,
    hml263_canonical_positions,
    hml263_rotations_to_positions,
    hml263_to_positions,
    motion_to_hml263,
    positions_to_hml263,
)
from motiongen.features.ms272 import (
    MS272_DIM,
    MS272_FPS,
    MS272_LAYOUT,
    motion_to_ms272,
    ms272_canonical_motion,
    ms272_to_motion,
    ms272_to_positions,
    positions_rotations_to_ms272,
)
from motiongen.features.normalization import (
    denormalize,
    feature_statistics,
    normalize,
    t2m_evaluator_std,
)

__all__ = [
    "HML263_DIM",
    "HML263_FPS",
    "HML263_LAYOUT",
    "MS272_DIM",
    "MS272_FPS",
    "MS272_LAYOUT",
    "denormalize",
    "feature_statistics",
    "hml263_canonical_positions",
    "hml263_rotations_to_positions",
    "hml263_to_positions",
    "motion_to_hml263",
    "motion_to_ms272",
    "ms272_canonical_motion",
    "ms272_to_motion",
    "ms272_to_positions",
    "normalize",
    "positions_rotations_to_ms272",
    "positions_to_hml263",
    "t2m_evaluator_std",
]
