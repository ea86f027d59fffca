"""``motiongen eval``: run the evaluation tasks on a model and write one metrics JSON.

Tasks (each resumable, results in ``OUT.parts/``): ``t2m`` (HumanML3D protocol with our evaluator,
:mod:`motiongen.evaluation.t2m`), ``quality`` (KIMODO's motion-quality metrics), ``inbetween``
(LAFAN1 protocol, :mod:`motiongen.metrics.inbetween`) and ``constraints`` (constraint following on
real test windows, :mod:`motiongen.evaluation.constraints`). The metric functions themselves live in
:mod:`motiongen.metrics`; this package generates, schedules and records.
"""
