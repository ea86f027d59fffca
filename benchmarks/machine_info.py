"""What every benchmark JSON records about the machine it ran on (imported by the scripts here);
the one definition lives in :mod:`motiongen.evaluation.records`."""

from motiongen.evaluation.records import machine_info

__all__ = ["machine_info"]
