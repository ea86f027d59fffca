"""The text-motion evaluator (TMR-style contrastive encoders) that scores generated motions.

``TextMotionEvaluator.from_pretrained("motiongen/evaluator-smplx")`` loads the shipped one;
``motiongen train evaluator --config configs/evaluator_smplx.yaml`` trains one.
"""

from motiongen.models.evaluator.evaluator import DEFAULT_EVALUATOR, TextMotionEvaluator, resolve_evaluator
from motiongen.models.evaluator.features import evaluator_feature_dim, positions_to_evaluator_features
from motiongen.models.evaluator.model import EvaluatorConfig, TextMotionModel

__all__ = [
    "DEFAULT_EVALUATOR",
    "EvaluatorConfig",
    "TextMotionEvaluator",
    "TextMotionModel",
    "evaluator_feature_dim",
    "positions_to_evaluator_features",
    "resolve_evaluator",
]
