"""Motion style classifier (temporal conv net over evaluator features) that measures style edits.

``StyleClassifier.from_pretrained("motiongen/style-classifier-smplx")`` loads the shipped one;
``motiongen train style-classifier --config configs/style_classifier_smplx.yaml`` trains one;
:func:`motiongen.evaluation.style.style_test_accuracy` scores one on a split.
"""

from motiongen.models.style.classifier import (
    BANDAI_HEADS,
    DEFAULT_LABEL_SET,
    DEFAULT_STYLE_CLASSIFIER,
    StyleClassifier,
    StyleClassifierConfig,
    StyleNet,
    resolve_style_classifier,
)

__all__ = [
    "BANDAI_HEADS",
    "DEFAULT_LABEL_SET",
    "DEFAULT_STYLE_CLASSIFIER",
    "StyleClassifier",
    "StyleClassifierConfig",
    "StyleNet",
    "resolve_style_classifier",
]
