"""Motion post-processing: constraint IK and foot-skate clean-up (KIMODO's ``CorrectMotion``).

``correct_motion`` makes a generated motion meet its full-body, end-effector and root-2D targets
and plants its feet; ``correct_trajectory`` is the smooth constrained corrector it is built on.
"""

from motiongen.postprocess.correct import PoseTargets, correct_motion
from motiongen.postprocess.trajectory import correct_trajectory, smooth_boundaries

__all__ = ["PoseTargets", "correct_motion", "correct_trajectory", "smooth_boundaries"]
