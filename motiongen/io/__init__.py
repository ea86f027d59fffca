"""File formats in and out of :class:`~motiongen.motion.motion.Motion` (BVH, ASF/AMC, KIMODO npz, constraints)."""
