"""KIMODO's skeletons (``smplx22``, ``soma30``, ``soma77``, ``g1``) read from the ``kimodo-assets`` archive.

Joint names and parents are facts of the format (KIMODO ``kimodo/skeleton/definitions.py``,
reference section 3.4) and are written below as ``(name, parent)`` tables. Rest positions are read
from each rig's ``joints.p`` (a ``torch.save`` zip archive): T-pose, Y up, facing +Z, metres. Rest
offsets are ``neutral[j] - neutral[parent]`` in world axes and every rest orientation is identity,
which is what :class:`~motiongen.skeleton.skeleton.Skeleton` expects. The root offset is the rest
root position (non-zero for SMPL-X); FK ignores it because root translation is absolute.

Layout of ``assets_dir`` (the archive's ``kimodo-assets`` folder)::

    skeletons/smplx22/{joints.p, beta.npy, mean_hands.npy}
    skeletons/somaskel30/joints.p
    skeletons/somaskel77/{joints.p, bvh_joints.p, standard_t_pose_global_offsets_rots.p, relaxed_hands_rest_pose.npy}
    skeletons/g1skel34/{joints.p, rest_pose_local_rot.p, xml/g1.xml}

G1 hinges: ``extras["hinges"]`` maps each of the 29 hinge joints ``<x>_skel`` (in ``g1.xml`` order,
which is the MuJoCo qpos order) to ``{"mujoco_joint": "<x>_joint", "axis": [3], "rest_rotation":
[3][3], "range": [lo, hi]}``. MuJoCo is Z up, X forward; KIMODO's world is ``M`` times MuJoCo's
with ``M = [[0,1,0],[0,0,1],[1,0,0]]`` (mj x -> our z, mj y -> our x, mj z -> our y; reference 5.2).
The G1 rest layout ignores the XML body ``quat`` attributes, so the local rotation of a hinge joint at
angle ``q`` is ``L = rest_rotation @ R(axis, q)``: ``rest_rotation = M Q_body M^T`` (identity where the
body has no quat) and ``axis = M axis_mj``, the hinge axis in our world axes, in the joint's frame
after its body rotation. For example the hip-pitch axis is ``(1, 0, 0)``: lateral.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from motiongen.errors import DataNotFoundError, InputError, UnknownNameError
from motiongen.geometry import quaternion_to_matrix
from motiongen.skeleton.skeleton import Skeleton, mirror_indices_by_name

#: KIMODO world from MuJoCo world: ``p_kimodo = MUJOCO_TO_KIMODO @ p_mujoco``.
MUJOCO_TO_KIMODO = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])

#: End-effector names a KIMODO ``end-effector`` constraint may list (reference 3.1).
END_EFFECTOR_NAMES = ("LeftFoot", "RightFoot", "LeftHand", "RightHand", "Hips")

SMPLX22_JOINTS: tuple[tuple[str, str | None], ...] = (
    ("pelvis", None),
    ("left_hip", "pelvis"),
    ("right_hip", "pelvis"),
    ("spine1", "pelvis"),
    ("left_knee", "left_hip"),
    ("right_knee", "right_hip"),
    ("spine2", "spine1"),
    ("left_ankle", "left_knee"),
    ("right_ankle", "right_knee"),
    ("spine3", "spine2"),
    ("left_foot", "left_ankle"),
    ("right_foot", "right_ankle"),
    ("neck", "spine3"),
    ("left_collar", "spine3"),
    ("right_collar", "spine3"),
    ("head", "neck"),
    ("left_shoulder", "left_collar"),
    ("right_shoulder", "right_collar"),
    ("left_elbow", "left_shoulder"),
    ("right_elbow", "right_shoulder"),
    ("left_wrist", "left_elbow"),
    ("right_wrist", "right_elbow"),
)

SOMA30_JOINTS: tuple[tuple[str, str | None], ...] = (
    ("Hips", None),
    ("Spine1", "Hips"),
    ("Spine2", "Spine1"),
    ("Chest", "Spine2"),
    ("Neck1", "Chest"),
    ("Neck2", "Neck1"),
    ("Head", "Neck2"),
    ("Jaw", "Head"),
    ("LeftEye", "Head"),
    ("RightEye", "Head"),
    ("LeftShoulder", "Chest"),
    ("LeftArm", "LeftShoulder"),
    ("LeftForeArm", "LeftArm"),
    ("LeftHand", "LeftForeArm"),
    ("LeftHandThumbEnd", "LeftHand"),
    ("LeftHandMiddleEnd", "LeftHand"),
    ("RightShoulder", "Chest"),
    ("RightArm", "RightShoulder"),
    ("RightForeArm", "RightArm"),
    ("RightHand", "RightForeArm"),
    ("RightHandThumbEnd", "RightHand"),
    ("RightHandMiddleEnd", "RightHand"),
    ("LeftLeg", "Hips"),
    ("LeftShin", "LeftLeg"),
    ("LeftFoot", "LeftShin"),
    ("LeftToeBase", "LeftFoot"),
    ("RightLeg", "Hips"),
    ("RightShin", "RightLeg"),
    ("RightFoot", "RightShin"),
    ("RightToeBase", "RightFoot"),
)


def _finger_chains(side: str) -> tuple[tuple[str, str], ...]:
    """The 24 finger joints under ``<side>Hand``: thumb 1-3 + end, the other four 1-4 + end."""
    hand = f"{side}Hand"
    rows: list[tuple[str, str]] = []
    for finger, count in (("Thumb", 3), ("Index", 4), ("Middle", 4), ("Ring", 4), ("Pinky", 4)):
        parent = hand
        for k in [str(i) for i in range(1, count + 1)] + ["End"]:
            name = f"{hand}{finger}{k}"
            rows.append((name, parent))
            parent = name
    return tuple(rows)


SOMA77_JOINTS: tuple[tuple[str, str | None], ...] = (
    ("Hips", None),
    ("Spine1", "Hips"),
    ("Spine2", "Spine1"),
    ("Chest", "Spine2"),
    ("Neck1", "Chest"),
    ("Neck2", "Neck1"),
    ("Head", "Neck2"),
    ("HeadEnd", "Head"),
    ("Jaw", "Head"),
    ("LeftEye", "Head"),
    ("RightEye", "Head"),
    ("LeftShoulder", "Chest"),
    ("LeftArm", "LeftShoulder"),
    ("LeftForeArm", "LeftArm"),
    ("LeftHand", "LeftForeArm"),
    *_finger_chains("Left"),
    ("RightShoulder", "Chest"),
    ("RightArm", "RightShoulder"),
    ("RightForeArm", "RightArm"),
    ("RightHand", "RightForeArm"),
    *_finger_chains("Right"),
    ("LeftLeg", "Hips"),
    ("LeftShin", "LeftLeg"),
    ("LeftFoot", "LeftShin"),
    ("LeftToeBase", "LeftFoot"),
    ("LeftToeEnd", "LeftToeBase"),
    ("RightLeg", "Hips"),
    ("RightShin", "RightLeg"),
    ("RightFoot", "RightShin"),
    ("RightToeBase", "RightFoot"),
    ("RightToeEnd", "RightToeBase"),
)


def _g1_leg(side: str) -> tuple[tuple[str, str], ...]:
    chain = ["hip_pitch_skel", "hip_roll_skel", "hip_yaw_skel", "knee_skel", "ankle_pitch_skel", "ankle_roll_skel", "toe_base"]
    names = [f"{side}_{c}" for c in chain]
    return tuple(zip(names, ["pelvis_skel"] + names[:-1]))


def _g1_arm(side: str) -> tuple[tuple[str, str], ...]:
    chain = [
        "shoulder_pitch_skel",
        "shoulder_roll_skel",
        "shoulder_yaw_skel",
        "elbow_skel",
        "wrist_roll_skel",
        "wrist_pitch_skel",
        "wrist_yaw_skel",
        "hand_roll_skel",
    ]
    names = [f"{side}_{c}" for c in chain]
    return tuple(zip(names, ["waist_pitch_skel"] + names[:-1]))


G1_JOINTS: tuple[tuple[str, str | None], ...] = (
    ("pelvis_skel", None),
    *_g1_leg("left"),
    *_g1_leg("right"),
    ("waist_yaw_skel", "pelvis_skel"),
    ("waist_roll_skel", "waist_yaw_skel"),
    ("waist_pitch_skel", "waist_roll_skel"),
    *_g1_arm("left"),
    *_g1_arm("right"),
)


def _soma77_hand_set(side: str) -> tuple[str, ...]:
    return (f"{side}Hand",) + tuple(name for name, _ in _finger_chains(side))


#: name -> (asset folder, joint table, joint sets) for each KIMODO rig (reference 3.1).
KIMODO_RIGS: dict[str, tuple[str, tuple[tuple[str, str | None], ...], dict[str, tuple[str, ...]]]] = {
    "smplx22": (
        "smplx22",
        SMPLX22_JOINTS,
        {
            "left_foot": ("left_ankle", "left_foot"),
            "right_foot": ("right_ankle", "right_foot"),
            "left_hand": ("left_wrist",),
            "right_hand": ("right_wrist",),
            "hips": ("right_hip", "left_hip"),
        },
    ),
    "soma30": (
        "somaskel30",
        SOMA30_JOINTS,
        {
            "left_foot": ("LeftFoot", "LeftToeBase"),
            "right_foot": ("RightFoot", "RightToeBase"),
            "left_hand": ("LeftHand", "LeftHandMiddleEnd"),
            "right_hand": ("RightHand", "RightHandMiddleEnd"),
            "hips": ("RightLeg", "LeftLeg"),
        },
    ),
    "soma77": (
        "somaskel77",
        SOMA77_JOINTS,
        {
            "left_foot": ("LeftFoot", "LeftToeBase", "LeftToeEnd"),
            "right_foot": ("RightFoot", "RightToeBase", "RightToeEnd"),
            "left_hand": _soma77_hand_set("Left"),
            "right_hand": _soma77_hand_set("Right"),
            "hips": ("RightLeg", "LeftLeg"),
        },
    ),
    "g1": (
        "g1skel34",
        G1_JOINTS,
        {
            "left_foot": ("left_ankle_roll_skel", "left_toe_base"),
            "right_foot": ("right_ankle_roll_skel", "right_toe_base"),
            "left_hand": ("left_wrist_yaw_skel", "left_hand_roll_skel"),
            "right_hand": ("right_wrist_yaw_skel", "right_hand_roll_skel"),
            "hips": ("right_hip_pitch_skel", "left_hip_pitch_skel"),
        },
    ),
}

#: KIMODO joint count -> rig name; every rig has a distinct count, so a file's ``J`` names its rig.
KIMODO_RIG_BY_JOINT_COUNT = {len(table): name for name, (_, table, _) in KIMODO_RIGS.items()}

MIRROR_PAIRS = [("Left", "Right"), ("left_", "right_")]


def default_assets_dir(data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """The unpacked archive's ``kimodo-assets`` folder (unpacking ``kimodo-assets.tar.xz`` if needed)."""
    from motiongen.data.archives import unpacked

    return unpacked("kimodo", data_dir, cache_dir) / "kimodo-assets"


def _asset(assets_dir: str | Path, *parts: str) -> Path:
    path = Path(assets_dir, "skeletons", *parts)
    if not path.is_file():
        raise DataNotFoundError(f"KIMODO asset '{path}' not found (expected inside the kimodo-assets folder '{assets_dir}')")
    return path


def _check_shape(array: np.ndarray, shape: Sequence[int], path: Path) -> np.ndarray:
    if tuple(array.shape) != tuple(shape):
        raise InputError(f"holds an array of shape {tuple(array.shape)}; expected {tuple(shape)}", path=path)
    if not np.isfinite(array).all():
        raise InputError("holds NaN or inf values", path=path)
    return array


def read_torch_array(path: str | Path, shape: Sequence[int]) -> np.ndarray:
    """A tensor saved with ``torch.save`` (KIMODO's ``.p`` files) as a float64 array of ``shape``."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"file '{path}' not found")
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors for a damaged file
        raise InputError(f"not a readable torch.save archive ({type(exc).__name__}: {exc})", path=path) from None
    if not isinstance(value, torch.Tensor):
        raise InputError(f"holds a {type(value).__name__}; expected a tensor of shape {tuple(shape)}", path=path)
    return _check_shape(value.detach().to(torch.float64).numpy(), shape, path)


def read_npy_array(path: str | Path, shape: Sequence[int]) -> np.ndarray:
    """A ``.npy`` array of ``shape`` as float64 (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"file '{path}' not found")
    try:
        value = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"not a readable .npy file ({exc})", path=path) from None
    if not np.issubdtype(value.dtype, np.number):
        raise InputError(f"holds dtype {value.dtype}; expected numbers", path=path)
    return _check_shape(value.astype(np.float64), shape, path)


def kimodo_rig_name(name: str) -> str:
    """Validate a KIMODO rig name (:data:`KIMODO_RIGS`)."""
    if name not in KIMODO_RIGS:
        raise UnknownNameError(f"unknown KIMODO skeleton '{name}'; known: {', '.join(KIMODO_RIGS)}")
    return name


def load_rest_positions(name: str, assets_dir: str | Path) -> np.ndarray:
    """Rest ("neutral") global joint positions ``[J, 3]`` of rig ``name`` from its ``joints.p``."""
    folder, table, _ = KIMODO_RIGS[kimodo_rig_name(name)]
    return read_torch_array(_asset(assets_dir, folder, "joints.p"), (len(table), 3))


def load_kimodo_skeleton(name: str, assets_dir: str | Path) -> Skeleton:
    """KIMODO rig ``name`` (``smplx22``, ``soma30``, ``soma77`` or ``g1``) from the kimodo-assets folder."""
    folder, table, joint_sets = KIMODO_RIGS[kimodo_rig_name(name)]
    neutral = load_rest_positions(name, assets_dir)
    names = tuple(joint for joint, _ in table)
    parents = tuple(-1 if parent is None else names.index(parent) for _, parent in table)
    offsets = neutral.copy()
    offsets[1:] = neutral[1:] - neutral[list(parents[1:])]
    extras: dict[str, Any] = {}
    if name == "g1":
        extras["hinges"] = g1_hinges(_asset(assets_dir, folder, "xml", "g1.xml"), names)
    return Skeleton(
        name=name,
        joint_names=names,
        parents=parents,
        offsets=offsets,
        joint_sets=joint_sets,
        mirror=mirror_indices_by_name(names, MIRROR_PAIRS),
        extras=extras,
    )


# --------------------------------------------------------------------------------------------------
# G1 (MuJoCo MJCF)


def _floats(text: str, count: int, path: Path, where: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in text.split()])
    except ValueError:
        values = np.zeros(0)
    if values.shape != (count,) or not np.isfinite(values).all():
        raise InputError(f"'{text}' is not {count} finite numbers", path=path, field=where)
    return values


def _joint_defaults(root: ET.Element) -> dict[str, dict[str, str]]:
    """Class name -> ``<joint>`` attributes after MJCF default inheritance (outer classes first)."""
    out: dict[str, dict[str, str]] = {}

    def walk(node: ET.Element, inherited: dict[str, str]) -> None:
        attrs = dict(inherited)
        joint = node.find("joint")
        if joint is not None:
            attrs.update(joint.attrib)
        out[node.get("class", "main")] = attrs
        for child in node.findall("default"):
            walk(child, attrs)

    for top in root.findall("default"):
        walk(top, {})
    return out


def g1_hinges(xml_path: str | Path, joint_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Hinge axis, rest rotation and range of each G1 hinge, in our world axes (see module docstring).

    Args:
        xml_path: ``g1.xml``.
        joint_names: the skeleton's joints; a hinge ``<x>_joint`` maps to ``<x>_skel``.

    Returns:
        ``{"<x>_skel": {"mujoco_joint", "axis" [3], "rest_rotation" [3][3], "range" [2]}}`` in XML
        (qpos) order.
    """
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"malformed MJCF XML ({exc})", path=xml_path) from None
    defaults = _joint_defaults(root)
    hinges: dict[str, dict[str, Any]] = {}

    def walk(body: ET.Element, childclass: str) -> None:
        childclass = body.get("childclass", childclass)
        quat = body.get("quat")
        rest = np.eye(3)
        if quat is not None:
            q = _floats(quat, 4, xml_path, f"body '{body.get('name')}' quat")
            rest = MUJOCO_TO_KIMODO @ quaternion_to_matrix(q / np.linalg.norm(q)) @ MUJOCO_TO_KIMODO.T
        for joint in body.findall("joint"):
            jname = joint.get("name", "")
            attrs = dict(defaults.get(joint.get("class", childclass), {}))
            attrs.update(joint.attrib)
            if attrs.get("type", "hinge") != "hinge":
                continue
            skel = jname.removesuffix("_joint") + "_skel"
            if not jname.endswith("_joint") or skel not in joint_names:
                raise InputError(f"hinge '{jname}' has no skeleton joint '{skel}'", path=xml_path, field=jname)
            if "range" not in attrs:
                raise InputError(f"hinge '{jname}' has no range", path=xml_path, field=jname)
            axis = _floats(attrs.get("axis", "0 0 1"), 3, xml_path, f"{jname} axis")
            lo, hi = _floats(attrs["range"], 2, xml_path, f"{jname} range")
            if not lo < hi:
                raise InputError(f"hinge '{jname}' range [{lo}, {hi}] is empty", path=xml_path, field=jname)
            hinges[skel] = {
                "mujoco_joint": jname,
                "axis": [float(v) for v in MUJOCO_TO_KIMODO @ (axis / np.linalg.norm(axis))],
                "rest_rotation": [[float(v) for v in row] for row in rest],
                "range": [float(lo), float(hi)],
            }
        for child in body.findall("body"):
            walk(child, childclass)

    worldbody = root.find("worldbody")
    if worldbody is None:
        raise InputError("MJCF file has no <worldbody>", path=xml_path)
    for body in worldbody.findall("body"):
        walk(body, "main")
    return hinges


def load_g1_rest_local_rotations(assets_dir: str | Path) -> np.ndarray:
    """``rest_pose_local_rot.p``: ``[34, 3, 3]`` XML body rotations in our axes (the viewer's G1 rest)."""
    return read_torch_array(_asset(assets_dir, "g1skel34", "rest_pose_local_rot.p"), (len(G1_JOINTS), 3, 3))


# --------------------------------------------------------------------------------------------------
# SOMA and SMPL-X side files


def load_relaxed_hands_rest_pose(assets_dir: str | Path) -> np.ndarray:
    """SOMA77 local rotations ``[77, 3, 3]`` filling the joints absent from SOMA30 (reference 3.3)."""
    return read_npy_array(_asset(assets_dir, "somaskel77", "relaxed_hands_rest_pose.npy"), (len(SOMA77_JOINTS), 3, 3))


def load_soma_standard_tpose(assets_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """SOMA77 BVH rest positions ``[77, 3]`` and standard T-pose global rotations ``O`` ``[77, 3, 3]``.

    BVH offsets are in each parent's standard frame: ``neutral_offset = O[parent] @ bvh_offset``
    (reference 3.2, 5.4).
    """
    bvh = read_torch_array(_asset(assets_dir, "somaskel77", "bvh_joints.p"), (len(SOMA77_JOINTS), 3))
    rots = read_torch_array(
        _asset(assets_dir, "somaskel77", "standard_t_pose_global_offsets_rots.p"), (len(SOMA77_JOINTS), 3, 3)
    )
    return bvh, rots


def load_smplx_betas(assets_dir: str | Path, count: int = 16) -> np.ndarray:
    """The first ``count`` (of 300) SMPL-X shape coefficients of KIMODO's training body ``[count]``."""
    if not 1 <= count <= 300:
        raise InputError(f"count must be in 1..300, got {count}", field="count")
    return read_npy_array(_asset(assets_dir, "smplx22", "beta.npy"), (300,))[:count]


def load_smplx_mean_hands(assets_dir: str | Path) -> np.ndarray:
    """SMPL-X mean hand pose ``[90]`` (axis-angle, 2 x 15 joints) used by the AMASS export."""
    return read_npy_array(_asset(assets_dir, "smplx22", "mean_hands.npy"), (90,))
