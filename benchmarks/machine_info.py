"""What every benchmark JSON records about the machine it ran on (imported by the scripts here)."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine_info(device: str | None = None) -> dict[str, Any]:
    """Platform, CPU, Python and library versions, thread count and the current load.

    ``load_average_1m`` is taken now: the machines may be shared, so a script records it again at
    the end. torch fields appear when torch is importable; ``gpu`` when ``device`` is CUDA.
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if device is not None:
        info["device"] = str(device)
        if str(device).startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(0)
    return info
