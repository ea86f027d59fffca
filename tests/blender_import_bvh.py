"""Import BVH files with Blender's own BVH importer and report what Blender made of them.

Run inside Blender (not by pytest):

    blender -b --factory-startup --python-exit-code 1 --python tests/blender_import_bvh.py -- JOB.json OUT.json

``JOB.json``: ``{"axis_forward": "-Z", "axis_up": "Y", "files": [{"path": ..., "global_scale": 0.01,
"frames": [0, 10, ...]}, ...]}`` (``frames`` 0-based, ours). ``OUT.json``: one entry per file, in
order: ``bones`` (names), ``frame_range`` of the imported action, ``keyframes`` (the distinct key
counts over its curves), ``fps`` (scene ``fps / fps_base`` after the import) and ``heads``:
``{frame: {bone: [x, y, z]}}``, each bone head in Blender's world (``matrix_world @ head``).
Each armature is removed after it is read, so the next file is evaluated alone.
"""

from __future__ import annotations

import builtins
import json
import sys

import bpy

_open = builtins.open


def _open_without_universal_newlines(file, mode="r", *args, **kwargs):
    # Debian's Blender 3.4 importer opens with mode "rU", which Python 3.11 rejects; "U" was a no-op
    if isinstance(mode, str) and "U" in mode:
        mode = mode.replace("U", "") or "r"
    return _open(file, mode, *args, **kwargs)


builtins.open = _open_without_universal_newlines
FRAME_START = 1  # the importer's default: our frame i is Blender frame FRAME_START + i


def import_one(path: str, global_scale: float, axis_forward: str, axis_up: str, frames: list[int]) -> dict:
    scene = bpy.context.scene
    before = set(bpy.data.objects)
    result = bpy.ops.import_anim.bvh(
        filepath=path,
        target="ARMATURE",
        global_scale=global_scale,
        frame_start=FRAME_START,
        use_fps_scale=False,
        update_scene_fps=True,
        update_scene_duration=True,
        rotate_mode="NATIVE",
        axis_forward=axis_forward,
        axis_up=axis_up,
    )
    if "FINISHED" not in result:
        raise RuntimeError(f"import of {path} returned {result}")
    armatures = [obj for obj in bpy.data.objects if obj not in before and obj.type == "ARMATURE"]
    if len(armatures) != 1:
        raise RuntimeError(f"import of {path} made {len(armatures)} armatures")
    armature = armatures[0]
    action = armature.animation_data.action
    heads = {}
    for frame in frames:
        scene.frame_set(FRAME_START + frame)
        heads[str(frame)] = {
            bone.name: list(armature.matrix_world @ bone.head) for bone in armature.pose.bones
        }
    report = {
        "bones": [bone.name for bone in armature.pose.bones],
        "frame_range": list(action.frame_range),
        "keyframes": sorted({len(curve.keyframe_points) for curve in action.fcurves}),
        "fps": scene.render.fps / scene.render.fps_base,
        "heads": heads,
    }
    bpy.data.objects.remove(armature, do_unlink=True)
    return report


def main(argv: list[str]) -> None:
    job_path, out_path = argv[argv.index("--") + 1 :][:2]
    with _open(job_path) as handle:
        job = json.load(handle)
    reports = [
        import_one(item["path"], item["global_scale"], job["axis_forward"], job["axis_up"], item["frames"])
        for item in job["files"]
    ]
    with _open(out_path, "w") as handle:
        json.dump(reports, handle)


main(sys.argv)
