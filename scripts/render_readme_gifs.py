"""Render the README's pictures: the shipped models' output for a few prompts, a constrained case and
a motion retargeted onto the Unitree G1.

Everything is generated here, with fixed seeds, by the shipped models (``motiongen/kimodo-smplx``,
``motiongen/smog-smplx``), and drawn by ``motiongen render`` (:func:`motiongen.viz.render.render_motion`);
the GIFs go to ``docs/media/`` and ``docs/media/gifs.json`` records what made each one (model hash,
prompt, seed, settings), so the pictures can be remade after the weights change:

    python scripts/render_readme_gifs.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / "docs" / "media"
SIZE = {"width": 320, "height": 240}
#: (file stem, model, prompt, frames, task); the waypoints case passes the smooth root through two points.
CASES = (
    ("kimodo_walk", "motiongen/kimodo-smplx", "a person walks forward.", 120, None),
    ("kimodo_wave", "motiongen/kimodo-smplx", "a person waves the right hand.", 120, None),
    ("kimodo_jump", "motiongen/kimodo-smplx", "a person jumps.", 90, None),
    ("kimodo_waypoints", "motiongen/kimodo-smplx", "a person walks along a curve.", 150, "waypoints"),
    ("kimodo_wave_g1", "motiongen/kimodo-smplx", "a person waves the right hand.", 120, "retargeted to the G1"),
    ("smog_walk", "motiongen/smog-smplx", "a person walks forward.", 60, None),
)
SEED = 0
WAYPOINTS = [[0.8, 1.5], [1.5, 3.0]]
WAYPOINT_FRAMES = [75, 149]


def main() -> int:
    import torch

    from motiongen.evaluation.records import folder_digest
    from motiongen.pipelines.bundle import resolve_model
    from motiongen.pipelines.loading import load_pipeline
    from motiongen.viz.render import render_motion

    torch.set_num_threads(2)
    MEDIA.mkdir(parents=True, exist_ok=True)
    pipes: dict[str, object] = {}
    records = []
    for stem, model, prompt, frames, task in CASES:
        pipe = pipes.setdefault(model, load_pipeline(model))
        if task == "waypoints":
            root2d = pipe.root2d_constraint(frame_indices=[0, *WAYPOINT_FRAMES], smooth_root_2d=[[0.0, 0.0], *WAYPOINTS])
            out = pipe.constrained_motion(prompt, num_frames=frames, constraints=[root2d], seed=SEED)
            caption = f"{prompt} (waypoints {WAYPOINTS} at frames {WAYPOINT_FRAMES})"
        else:
            out = pipe.text_to_motion(prompt, num_frames=frames, seed=SEED)
            caption = prompt
        motion = out.motions()[0]
        if task == "retargeted to the G1":  # needs the archives (the G1 rig)
            from motiongen.retarget.registered import retarget_to

            robot = retarget_to(motion, "g1")
            path = render_motion([motion, robot], MEDIA / f"{stem}.gif", height=SIZE["height"],
                                 caption=[f"{model}: {caption}", "retargeted to the Unitree G1 (joint-limited IK)"])
        else:
            path = render_motion(motion, MEDIA / f"{stem}.gif", caption=f"{model}: {caption}", trace=task is not None,
                                 **SIZE)
        records.append({"file": path.name, "model": model, "model_hash": folder_digest(resolve_model(model)),
                        "prompt": prompt, "frames": frames, "seed": SEED, "task": task, "bytes": path.stat().st_size})
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    (MEDIA / "gifs.json").write_text(json.dumps({"size": SIZE, "gifs": records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
