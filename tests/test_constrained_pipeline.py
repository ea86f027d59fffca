"""Constrained generation with a tiny *untrained* bundle (see test_pipeline.py): every constraint kind,
post-processing (which makes the constraints hold even though the model ignores them), KIMODO's
shipped SOMA example files, multi-prompt timelines, and the in-betweening / prepend / stitch tasks
on real mocap clips (Bandai, retargeted onto smplx22 by the dataset build)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_pipeline import make_tiny_bundle

from motiongen.constraints.masks import end_effector_joints
from motiongen.constraints.sets import (
    ConstraintConflictError,
    EndEffectorConstraintSet,
    FullBodyConstraintSet,
    Root2DConstraintSet,
)
from motiongen.errors import InputError
from motiongen.pipelines.kimodo import KIMODOPipeline
from motiongen.skeleton.registry import get_skeleton

pytestmark = pytest.mark.data

PROMPT = "a person walks forward."
STEPS = 2
#: the shipped SOMA examples with constraints and their motion lengths (reference 10.1)
EXAMPLES = {
    "03_full_body_keyframes": 150,
    "04_ee_constraint": 151,
    "05_root_path": 300,
    "06_root_waypoints": 181,
    "07_mixed_constraints": 152,
}
CM = 0.01
MM = 0.001
#: How far outside the root margin a *dense* 2D path may leave the pelvis: correct_motion keeps root
#: balls "to ADMM accuracy" (100 iterations plus one polish solve), and with the untrained model's
#: root metres away from the path a few frames stay up to ~1.7 mm outside (sparse waypoints: < 1 mm).
DENSE_SLACK = 3 * MM


@pytest.fixture(scope="module")
def pipe(tmp_path_factory, data_dir: Path, cache_dir: Path) -> KIMODOPipeline:
    bundle = make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle", data_dir, cache_dir)
    return KIMODOPipeline.from_pretrained(bundle, text_cache_dir=tmp_path_factory.getbasetemp() / "text_cache")


@pytest.fixture(scope="module")
def long_pipe(pipe, tmp_path_factory, data_dir: Path, cache_dir: Path) -> KIMODOPipeline:
    """The same tiny architecture with room for KIMODO's 300-frame examples."""
    bundle = make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle_304", data_dir, cache_dir, max_frames=304)
    return KIMODOPipeline.from_pretrained(bundle, text_encoder=pipe.text_encoder)


@pytest.fixture(scope="module")
def clips(pipe, data_dir: Path, cache_dir: Path):
    """Two real Bandai clips on the model's skeleton (the dataset build retargets them to smplx22)."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    first, second = dataset[0][0][:30], dataset[1][0][40:70]
    assert first.skeleton == pipe.bundle.skeleton and first.fps == pipe.fps
    return first, second


@pytest.fixture(scope="module")
def source(pipe):
    """A 40-frame motion from the model itself: poses every constraint below is built from."""
    return pipe.text_to_motion("a person waves.", num_frames=40, seed=11, steps=STEPS, postprocess=False)


def fk(pipe, c):
    """Target global rotations and joint positions of a pose constraint (pelvis xz = smooth root, KIMODO 1.8)."""
    root = c.root_positions.copy()
    root[:, [0, 2]] = c.smooth_root_2d
    return pipe.bundle.skeleton.forward_kinematics(c.local_rot_mats, root)


def pose_error(pipe, out, c, sample: int = 0) -> float:
    """Largest joint distance (m) on the constraint's frames: all joints for a full body, the chain
    joints for an end effector."""
    _, pos = fk(pipe, c)
    joints = list(range(pipe.bundle.skeleton.num_joints))
    if isinstance(c, EndEffectorConstraintSet):
        joints = sorted({j for name in c.joint_names for j in end_effector_joints(pipe.bundle.features, name)})
    return float(np.linalg.norm(out.posed_joints[sample, c.frame_indices][:, joints] - pos[:, joints], axis=-1).max())


def root_error(out, c, sample: int = 0) -> np.ndarray:
    """Pelvis floor distance (m) to a 2D-root target on each of its frames."""
    return np.linalg.norm(out.root_positions[sample, c.frame_indices][:, [0, 2]] - c.smooth_root_2d, axis=-1)


# --------------------------------------------------------------------------------------------------
def test_each_constraint_kind_holds_after_post_processing(pipe, source):
    full = pipe.fullbody_keyframe_constraint([6, 30], motion=source, source_frames=[12, 25])
    hands = [pipe.left_hand_constraint([10, 20], motion=source), pipe.right_hand_constraint([15], motion=source)]
    feet = [pipe.left_foot_constraint([8, 33], motion=source), pipe.right_foot_constraint([2], motion=source)]
    root = pipe.root2d_constraint([0, 19, 39], [[0.0, 0.0], [0.4, 0.9], [0.6, 1.8]])
    cases = {"fullbody": [full], **{c.type: [c] for c in hands + feet}, "root2d": [root]}
    for kind, constraints in cases.items():
        # impute=0: the model is only conditioned, so the untrained model misses and post-processing must hit
        out = pipe.constrained_motion(PROMPT, 40, constraints=constraints, seed=3, steps=STEPS, impute=0)
        raw = pipe.constrained_motion(PROMPT, 40, constraints=constraints, seed=3, steps=STEPS, postprocess=False, impute=0)
        assert out.info["postprocess"] is True and raw.info["postprocess"] is False
        np.testing.assert_array_equal(out.features, raw.features)  # post-processing works on the decoded motion
        c = constraints[0]
        if kind == "root2d":
            assert root_error(out, c).max() <= 0.02 + MM  # the default root margin
            assert root_error(raw, c).max() > 0.02 + MM  # the untrained model alone misses
            continue
        assert pose_error(pipe, out, c) < CM, kind
        assert pose_error(pipe, raw, c) > 2 * CM, kind
        glob, _ = fk(pipe, c)
        if kind == "fullbody":
            # the whole pose: every local rotation and the pelvis
            np.testing.assert_allclose(out.local_rot_mats[0, c.frame_indices], c.local_rot_mats, atol=1e-6)
            np.testing.assert_allclose(out.root_positions[0, c.frame_indices], c.root_positions, atol=1e-6)
        else:
            # the chain base joint's global rotation too (wrist, ankle)
            base = end_effector_joints(pipe.bundle.features, c.joint_names[0])[0]
            np.testing.assert_allclose(out.global_rot_mats[0, c.frame_indices, base], glob[:, base], atol=1e-5)
            # the pelvis stays within the root margin of the pose's floor position
            assert root_error(out, c).max() <= 0.02 + MM

    # all kinds at once, on different frames of one motion, two samples
    mixed = [full, hands[0], feet[1], pipe.root2d_constraint([0, 25, 39], [[0.0, 0.0], [0.3, 0.7], [0.5, 1.5]])]
    out = pipe.constrained_motion(PROMPT, 40, constraints=mixed, num_samples=2, seed=5, steps=STEPS)
    assert out.num_samples == 2 and out.info["num_constraints"] == 4
    assert out.info["cfg_type"] == "separated" and out.info["cfg_weights"] == [2.0, 2.0]  # KIMODO's constrained default
    for sample in range(2):
        for c in mixed[:3]:
            assert pose_error(pipe, out, c, sample) < CM
        assert root_error(out, mixed[3], sample).max() <= 0.02 + MM


def test_root_margin_and_the_raw_decode(pipe):
    path = pipe.root2d_constraint(np.arange(40), np.stack([np.linspace(0, 0.4, 40), np.linspace(0, 1.6, 40)], -1))
    wide = pipe.constrained_motion(PROMPT, 40, constraints=[path], seed=2, steps=STEPS, root_margin=0.08, impute=0)
    errors = root_error(wide, path)
    assert errors.max() <= 0.08 + DENSE_SLACK and errors.max() > 0.03  # the wider ball is used, not the default
    with pytest.raises(InputError, match="root_margin"):
        pipe.constrained_motion(PROMPT, 40, constraints=[path], root_margin=-0.1)

    # postprocess=False: exactly the decoded features; post-processing changes the motion
    raw = pipe.constrained_motion(PROMPT, 40, constraints=[path], seed=2, steps=STEPS, postprocess=False, impute=0)
    decoded = pipe.bundle.features.decode(raw.features.astype(np.float64))  # outputs are stored as float32
    np.testing.assert_allclose(raw.posed_joints, decoded["posed_joints"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(raw.local_rot_mats, decoded["local_rot_mats"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(raw.root_positions, decoded["root_positions"], rtol=0, atol=1e-6)
    fixed = pipe.constrained_motion(PROMPT, 40, constraints=[path], seed=2, steps=STEPS, impute=0)
    np.testing.assert_array_equal(fixed.features, raw.features)
    assert np.abs(fixed.root_positions - raw.root_positions).max() > 0.1
    # text_to_motion: post-processing (feet only) on by default, off on request
    plain = pipe.text_to_motion(PROMPT, num_frames=30, seed=4, steps=STEPS, postprocess=False)
    decoded = pipe.bundle.features.decode(plain.features.astype(np.float64))
    np.testing.assert_allclose(plain.posed_joints, decoded["posed_joints"], rtol=0, atol=1e-6)
    assert pipe.text_to_motion(PROMPT, num_frames=30, seed=4, steps=STEPS).info["postprocess"] is True


def test_shipped_soma_examples_drive_generation(long_pipe, raw):
    folder = raw("kimodo") / "kimodo-assets/examples/kimodo-soma-rp"
    pipe = long_pipe
    for name, frames in EXAMPLES.items():
        meta = json.loads((folder / name / "meta.json").read_text())
        constraints = pipe.constraints_from_json(folder / name / "constraints.json")
        out = pipe.constrained_motion(meta["text"], frames, constraints=constraints, seed=meta["seed"], steps=STEPS)
        assert out.num_frames == frames and out.info["num_constraints"] == len(constraints)
        skeleton = pipe.bundle.skeleton
        for c in constraints:
            if isinstance(c, Root2DConstraintSet):
                errors = root_error(out, c)
                if len(c.frame_indices) < frames:  # waypoints: within the margin to ADMM accuracy
                    assert errors.max() <= 0.02 + MM, name
                else:  # a dense path (see DENSE_SLACK): most frames within the margin to 1 mm, all to 3 mm
                    assert errors.max() <= 0.02 + DENSE_SLACK and np.mean(errors <= 0.02 + MM) > 0.9, (name, errors.max())
            elif isinstance(c, FullBodyConstraintSet):
                assert pose_error(pipe, out, c) < CM, name
            else:
                # an end effector's chain base reaches its target when the target is within the limb's
                # reach from the generated shoulder / hip (correct_motion's guarantee); SOMA 04's feet are
                glob, pos = fk(pipe, c)
                base = end_effector_joints(pipe.bundle.features, c.joint_names[0])[0]
                parent = skeleton.parents[base]
                top = skeleton.parents[parent]
                reach = 0.999 * (np.linalg.norm(skeleton.offsets[parent]) + np.linalg.norm(skeleton.offsets[base]))
                distance = np.linalg.norm(pos[:, base] - out.posed_joints[0, c.frame_indices, top], axis=-1)
                in_reach = distance < reach - CM
                error = np.linalg.norm(out.posed_joints[0, c.frame_indices, base] - pos[:, base], axis=-1)
                assert np.all(error[in_reach] < CM), (name, c.type, error, distance - reach)
                if c.type.endswith("foot"):
                    assert in_reach.all() and pose_error(pipe, out, c) < CM
                np.testing.assert_allclose(out.global_rot_mats[0, c.frame_indices, base], glob[:, base], atol=1e-5)


def test_multi_prompt_constraints_cross_segment_boundaries(pipe, source):
    prompts = ["a person walks forward.", "a person turns left."]
    # keys in segment 1, in segment 1's tail that segment 2 regenerates (frames 22..29), and in segment 2
    full = pipe.fullbody_keyframe_constraint([10, 25, 45], motion=source, source_frames=[5, 20, 35])
    path = pipe.root2d_constraint([0, 29, 30, 59], [[0.0, 0.0], [0.5, 1.0], [0.52, 1.03], [1.0, 2.0]])
    out = pipe.multi_prompt(prompts, [30, 30], constraints=[full, path], seed=8, steps=STEPS)
    assert out.num_frames == 60
    assert out.info["segments"] == [[0, 30, prompts[0]], [30, 60, prompts[1]]]
    assert out.info["transitions"] == [[22, 27]] and out.info["num_constraints"] == 2
    assert pose_error(pipe, out, full) < CM
    assert root_error(out, path).max() <= 0.02 + MM

    # each pass sees only its own segment's constraints: a key in segment 2 leaves segment 1's
    # frames before the transition exactly as without it (same seed, same guidance)
    cfg = ("separated", (2.0, 2.0))
    late = pipe.fullbody_keyframe_constraint([45], motion=source, source_frames=[35])
    free = pipe.multi_prompt(prompts, [30, 30], seed=8, steps=STEPS, cfg=cfg, postprocess=False)
    keyed = pipe.multi_prompt(prompts, [30, 30], constraints=[late], seed=8, steps=STEPS, cfg=cfg, postprocess=False)
    np.testing.assert_array_equal(keyed.features[:, :22], free.features[:, :22])
    assert np.abs(keyed.features[:, 30:] - free.features[:, 30:]).max() > 1e-3
    # and a key in segment 1 changes segment 1
    early = pipe.fullbody_keyframe_constraint([10], motion=source, source_frames=[5])
    keyed = pipe.multi_prompt(prompts, [30, 30], constraints=[early], seed=8, steps=STEPS, cfg=cfg, postprocess=False)
    assert np.abs(keyed.features[:, :22] - free.features[:, :22]).max() > 1e-3
    with pytest.raises(InputError, match=r"frame 60 is past the end; frames must be in \[0, 59\]"):
        pipe.multi_prompt(prompts, [30, 30], constraints=[pipe.root2d_constraint([60], [[0, 0]])], steps=STEPS)


def test_inbetween_prepend_stitch_lengths_and_seams(pipe, clips, data_dir, cache_dir):
    first, second = clips
    skeleton = pipe.bundle.skeleton
    # move the second clip 1.2 m ahead of the first one's end so the in-between has ground to cover
    end_root = second.root_translation.copy()
    end_root[:, [0, 2]] += first.root_translation[-1, [0, 2]] - second.root_translation[0, [0, 2]] + [0.0, 1.2]
    end = type(second)(local_rotations=second.local_rotations, root_translation=end_root, fps=second.fps, skeleton=skeleton)

    out = pipe.inbetween(PROMPT, first, end, 40, seed=1, steps=STEPS)
    assert out.num_frames == 40
    np.testing.assert_allclose(out.posed_joints[0, 0], first.joint_positions()[-1], atol=1e-5)
    np.testing.assert_allclose(out.posed_joints[0, 39], end.joint_positions()[0], atol=1e-5)
    raw = pipe.inbetween(PROMPT, first, end, 40, seed=1, steps=STEPS, postprocess=False, impute=0)
    assert np.abs(raw.posed_joints[0, 39] - end.joint_positions()[0]).max() > 2 * CM  # post-processing did it
    wider = pipe.inbetween(PROMPT, first, end, 40, context_frames=3, seed=1, steps=STEPS)
    np.testing.assert_allclose(wider.posed_joints[0, :3], first.joint_positions()[-3:], atol=1e-5)
    np.testing.assert_allclose(wider.posed_joints[0, 37:], end.joint_positions()[:3], atol=1e-5)

    # prepend: 20 new frames, then the clip, kept exactly (its first pose is also the lead-in's target)
    out = pipe.prepend(PROMPT, second, 20, seed=2, steps=STEPS, impute=0)
    assert out.num_frames == 20 + second.num_frames
    assert out.info["joined"] == {"before": 0, "generated": [0, 20], "total": 50}
    np.testing.assert_allclose(out.posed_joints[0, 20:], second.joint_positions(), atol=1e-5)
    np.testing.assert_allclose(out.local_rot_mats[0, 20:], second.local_rotations, atol=1e-5)
    # a one-sample MotionOutput is taken as its motion
    generated = pipe.prepend(PROMPT, out, 10, seed=2, steps=STEPS)
    assert generated.num_frames == 10 + out.num_frames
    np.testing.assert_allclose(generated.posed_joints[0, 10:], out.posed_joints[0], atol=1e-5)
    raw = pipe.prepend(PROMPT, second, 20, seed=2, steps=STEPS, postprocess=False, impute=0)
    np.testing.assert_array_equal(raw.features[:, :20], out.features[:, :20])
    assert np.abs(raw.posed_joints[0, 19] - out.posed_joints[0, 19]).max() > CM  # the lead-in was corrected

    # stitch without alignment: first's last 5 frames and second's first 5 stay where they are
    out = pipe.stitch(first, second, transition_frames=16, prompt=PROMPT, align=False, seed=3, steps=STEPS)
    t1 = first.num_frames
    assert out.num_frames == t1 + 16 + second.num_frames
    assert out.info["joined"] == {"before": t1 - 5, "generated": [t1 - 5, t1 + 16], "total": out.num_frames}
    np.testing.assert_allclose(out.posed_joints[0, :t1], first.joint_positions(), atol=1e-5)
    np.testing.assert_allclose(out.posed_joints[0, t1 + 16 :], second.joint_positions(), atol=1e-5)
    # with alignment the second clip is turned and moved, its poses kept (joint rotations below the pelvis, height)
    out = pipe.stitch(first, second, transition_frames=16, prompt=PROMPT, seed=3, steps=STEPS)
    assert out.num_frames == t1 + 16 + second.num_frames
    np.testing.assert_allclose(out.posed_joints[0, t1 - 5 : t1], first.joint_positions()[-5:], atol=1e-5)
    np.testing.assert_allclose(out.local_rot_mats[0, t1 + 16 :, 1:], second.local_rotations[:, 1:], atol=1e-5)
    np.testing.assert_allclose(out.root_positions[0, t1 + 16 :, 1], second.root_translation[:, 1], atol=1e-5)
    start_gap = np.linalg.norm(out.root_positions[0, t1 + 16, [0, 2]] - out.root_positions[0, t1 - 1, [0, 2]])
    assert start_gap < 3.0  # continues from where the first clip ends

    # a motion on another rig is refused with the fix named
    soma = get_skeleton("soma30", data_dir, cache_dir)
    other = type(first)(np.broadcast_to(np.eye(3), (5, 30, 3, 3)), np.zeros((5, 3)), 30.0, soma)
    with pytest.raises(InputError, match=r"skeleton 'soma30'.*retarget it first"):
        pipe.inbetween(PROMPT, other, end, 30)
    with pytest.raises(InputError, match="context_frames"):
        pipe.inbetween(PROMPT, first, end, 4, context_frames=3)
    with pytest.raises(InputError, match=r"frame -?\d+ is outside the motion's 3 frames"):
        pipe.stitch(first[:3], second, transition_frames=10)


def test_same_seed_same_motion(pipe, source):
    constraints = [
        pipe.fullbody_keyframe_constraint([5], motion=source),
        pipe.root2d_constraint([0, 39], [[0.0, 0.0], [0.3, 1.2]]),
    ]
    a = pipe.constrained_motion(PROMPT, 40, constraints=constraints, seed=21, steps=3, num_samples=2)
    b = pipe.constrained_motion(PROMPT, 40, constraints=constraints, seed=21, steps=3, num_samples=2)
    c = pipe.constrained_motion(PROMPT, 40, constraints=constraints, seed=22, steps=3, num_samples=2)
    np.testing.assert_array_equal(a.posed_joints, b.posed_joints)
    np.testing.assert_array_equal(a.features, b.features)
    assert np.abs(a.features - c.features).max() > 1e-3
    assert np.abs(a.features[0] - a.features[1]).max() > 1e-3  # samples of one batch differ


def test_nothing_is_generated_on_bad_input(pipe, source, tmp_path, data_dir, cache_dir):
    # a fresh pipeline: its text encoder loads (and caches embeddings) only when sampling starts
    fresh = KIMODOPipeline.from_pretrained(pipe.bundle.info["path"], text_cache_dir=tmp_path / "text")
    skeleton = fresh.bundle.skeleton
    full = fresh.fullbody_keyframe_constraint([5], motion=source)
    other_pose = fresh.fullbody_keyframe_constraint([5], motion=source, source_frames=[30])
    g1 = get_skeleton("g1", data_dir, cache_dir)
    cases = [
        ([fresh.root2d_constraint([40], [[0, 0]])], InputError, r"constraints\[0\] \(root2d\): frame 40 is past the end"),
        ([full, fresh.root2d_constraint([5], [[3.0, 3.0]])], ConstraintConflictError, r"constraints\[1\] \(root2d\) and constraints\[0\] \(fullbody\) pin smooth_root_pos of frame 5"),
        ([full, other_pose], ConstraintConflictError, r"frame 5"),
        # poses that agree on the effector chains but not elsewhere: post-processing takes one pose per frame
        ([fresh.left_foot_constraint([5], motion=source), EndEffectorConstraintSet(
            skeleton, [5], np.concatenate([source.local_rot_mats[0, [5]][:, :15], source.local_rot_mats[0, [30]][:, 15:]], 1),
            source.root_positions[0, [5]], joint_names=("LeftFoot",))], ConstraintConflictError, "store different poses for frame 5"),
        ([FullBodyConstraintSet(g1, [0], np.broadcast_to(np.eye(3), (1, 34, 3, 3)), [[0, 0.8, 0]])], InputError, r"skeleton 'g1' \(34 joints\)"),
        (["constraints.json"], InputError, "constraint set"),
        ("constraints.json", InputError, "constraints_from_json"),
    ]
    for constraints, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            fresh.constrained_motion(PROMPT, 40, constraints=constraints, seed=0, steps=STEPS)
    with pytest.raises(InputError, match=r"num_frames_list\[0\]"):
        fresh.constrained_motion(PROMPT, 65, constraints=[full], steps=STEPS)
    with pytest.raises(InputError, match="path has 10 rows for 12 frames"):
        fresh.follow_path(PROMPT, np.zeros((10, 2)), 12)
    with pytest.raises(InputError, match=r"waypoints must be \[K, 2\]"):
        fresh.through_waypoints(PROMPT, [[0, 1]], [10, 20], 30)
    # the given motions of prepend / stitch are checked first too
    walk = source.motions()[0]
    with pytest.raises(InputError, match=r"field 'motion'.*expected a Motion or a MotionOutput, got str"):
        fresh.prepend(PROMPT, "walk.npz", 10)
    with pytest.raises(InputError, match=r"field 'second'.*15 fps; this model uses 30"):
        fresh.stitch(walk, walk[::2], transition_frames=10)
    # a two-sample output cannot stand for one motion
    with pytest.raises(InputError, match=r"field 'first'.*2 samples"):
        fresh.stitch(type(source).concatenate_batch([source, source]), walk, transition_frames=10)
    assert not (tmp_path / "text").exists()  # nothing was encoded, so nothing sampled
    # the same pipeline generates once the input is right (and then does encode text)
    out = fresh.constrained_motion(PROMPT, 40, constraints=[full], seed=0, steps=STEPS, postprocess=False)
    assert out.num_frames == 40 and any((tmp_path / "text").rglob("*"))


def test_path_and_waypoint_tasks(pipe):
    path = np.stack([np.linspace(0, 0.5, 30), np.linspace(0, 1.5, 30)], -1)
    out = pipe.follow_path(PROMPT, path, seed=0, steps=STEPS)
    assert out.num_frames == 30
    assert np.linalg.norm(out.root_positions[0][:, [0, 2]] - path, axis=-1).max() <= 0.02 + DENSE_SLACK
    out = pipe.through_waypoints(PROMPT, [[0.5, 1.0], [1.0, 2.0]], [15, 29], 30, seed=0, steps=STEPS)
    assert out.num_frames == 30
    # the start (the origin at frame 0) is added to the waypoints
    np.testing.assert_allclose(out.root_positions[0, [0, 15, 29]][:, [0, 2]], [[0, 0], [0.5, 1.0], [1.0, 2.0]], atol=0.02 + MM)


def test_imputation_puts_keyframes_and_paths_into_the_raw_sample(pipe, source):
    """Smooth imputation (the default) makes even the untrained model's raw decode meet full-body
    keyframes (pose and pelvis) and the smooth-root path, without a step at the keyframes."""
    full = pipe.fullbody_keyframe_constraint([6, 30], motion=source, source_frames=[12, 25])
    raw = pipe.constrained_motion(PROMPT, 40, constraints=[full], seed=3, steps=STEPS, postprocess=False)
    assert raw.info["impute"] == 1.0
    assert pose_error(pipe, raw, full) < 1e-4
    conditioned = pipe.constrained_motion(PROMPT, 40, constraints=[full], seed=3, steps=STEPS, postprocess=False, impute=0)
    assert pose_error(pipe, conditioned, full) > 2 * CM
    # the frames next to a keyframe moved with it: no jump larger than the sample's own largest step elsewhere
    speed = np.linalg.norm(np.diff(raw.posed_joints[0], axis=0), axis=-1).max(-1)
    near = np.concatenate([speed[4:8], speed[28:32]])
    assert near.max() <= 1.5 * np.delete(speed, list(range(4, 8)) + list(range(28, 32))).max()
    # a sparse path: the smooth root passes exactly through the waypoints
    path = pipe.root2d_constraint([0, 20, 39], [[0.0, 0.0], [0.4, 0.9], [0.6, 1.8]])
    raw = pipe.constrained_motion(PROMPT, 40, constraints=[path], seed=3, steps=STEPS, postprocess=False)
    np.testing.assert_allclose(raw.smooth_root_pos[0, [0, 20, 39]][:, [0, 2]], path.smooth_root_2d, atol=1e-5)
    # a share of the steps: the value is recorded, and it changes the sample
    half = pipe.constrained_motion(PROMPT, 40, constraints=[path], seed=3, steps=STEPS, postprocess=False, impute=0.5)
    assert half.info["impute"] == 0.5 and np.abs(half.features - raw.features).max() > 1e-4
    with pytest.raises(InputError, match="impute"):
        pipe.constrained_motion(PROMPT, 40, constraints=[path], impute=1.5)
