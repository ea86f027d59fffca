"""Metric functions, pure numpy: :mod:`~motiongen.metrics.t2m` (HumanML3D protocol on evaluator
embeddings: FID, R-precision, MM-Dist, diversity, multimodality, intervals),
:mod:`~motiongen.metrics.quality` (KIMODO's motion-quality metrics on joint positions) and
:mod:`~motiongen.metrics.inbetween` (LAFAN1 protocol: L2P, L2Q, NPSS and the two baselines).
``motiongen eval`` (:mod:`motiongen.evaluation`) runs them on generated motions."""
