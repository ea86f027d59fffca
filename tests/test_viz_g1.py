"""The viewer draws the Unitree G1 with its meshes (motiongen.viz.g1_meshes, the server's
``/api/g1-meshes`` and ``/api/g1-mesh/NAME``, viewer.js).

Known answers: a tetrahedron STL (binary and ASCII) through the reader and the buffer layout; a
small MJCF with a welded body placed by MuJoCo itself. On the real model (the ``kimodo-assets`` and
``g1-meshes`` archives): the visual geom table against the XML as MuJoCo compiles it, and every
geom's world vertices from our FK (``L_j = rest_rotation_j @ R(axis_j, q_j)``) against MuJoCo's
``xpos`` / ``xmat`` for a non-trivial pose. Then the server's endpoints (and their refusals), and the
page in headless Chromium: meshes drawn, moving with playback, toggled, or a note saying why not.

Without the archives the data tests skip (fail under MOTIONGEN_REQUIRE_DATA=1); without
/usr/bin/chromium or playwright the browser tests skip, saying why.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from headless_browser import headless_chromium
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from motiongen.errors import InputError
from motiongen.skeleton.kimodo_assets import MUJOCO_TO_KIMODO as M
from motiongen.skeleton.skeleton import Skeleton
from motiongen.viz.g1_meshes import (
    G1_JOINT_NAMES,
    G1MeshLibrary,
    converted_mesh,
    g1_asset_paths,
    g1_visual_geoms,
    geom_world_poses,
    mesh_buffer,
    parse_mesh_buffer,
    read_stl,
    unique_geoms,
)
from motiongen.viz.server import ViewerServer

TIMEOUT_MS = 120_000  # software WebGL drawing ~350k triangles on a busy 2-core machine
#: g1.xml: 42 visual geoms (38 meshes, 4 cylinders); 3 repeat another exactly (pelvis contour, left hip pitch and roll).
G1_VISUAL_GEOMS, G1_CYLINDERS, G1_REPEATS = 42, 4, 3
FRAMES = 60


# ==================================================================================================
# known answers without data
TETRA = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def write_binary_stl(path: Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """A binary STL: 80-byte header, count, then normal, 3 corners and a uint16 per triangle."""
    records = b"".join(struct.pack("<3f", 0, 0, 0) + vertices[f].astype("<f4").tobytes() + b"\0\0" for f in faces)
    path.write_bytes(b"solid but binary".ljust(80, b" ") + struct.pack("<I", len(faces)) + records)
    return path


def write_ascii_stl(path: Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    lines = ["solid tetra"]
    for f in faces:
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x:.6e} {y:.6e} {z:.6e}" for x, y, z in vertices[f]]
        lines += ["    endloop", "  endfacet"]
    path.write_text("\n".join(lines + ["endsolid tetra\n"]))
    return path


@pytest.mark.parametrize("writer", [write_binary_stl, write_ascii_stl], ids=["binary", "ascii"])
def test_stl_reader_merges_shared_corners_and_keeps_each_triangle(tmp_path: Path, writer: Callable) -> None:
    vertices, faces = read_stl(writer(tmp_path / "tetra.stl", TETRA, TETRA_FACES))
    assert vertices.dtype == np.float32 and vertices.shape == (4, 3) and faces.shape == (4, 3)
    np.testing.assert_array_equal(vertices[faces], TETRA[TETRA_FACES])  # same triangles, same winding
    # our axes: (x, y, z)_ours = (y, z, x)_mujoco, a rotation, so winding (and outward normals) hold
    ours, same_faces = converted_mesh(tmp_path / "tetra.stl")
    np.testing.assert_array_equal(same_faces, faces)
    np.testing.assert_array_equal(ours, vertices[:, [1, 2, 0]])
    assert np.linalg.det(M) == pytest.approx(1.0)


def test_stl_reader_refuses_what_is_not_an_stl(tmp_path: Path) -> None:
    good = write_binary_stl(tmp_path / "tetra.stl", TETRA, TETRA_FACES).read_bytes()
    (tmp_path / "cut.stl").write_bytes(good[:-7])
    with pytest.raises(InputError, match=r"cut.stl.*neither a binary STL \(its header counts 4 triangles: 284 bytes\) nor an ASCII STL"):
        read_stl(tmp_path / "cut.stl")
    (tmp_path / "empty.stl").write_bytes(good[:80] + struct.pack("<I", 0))
    with pytest.raises(InputError, match="without triangles"):
        read_stl(tmp_path / "empty.stl")
    (tmp_path / "odd.stl").write_text("solid x\n vertex 0 0 0\n vertex 1 0 0\nendsolid x\n")
    with pytest.raises(InputError, match="not whole triangles"):
        read_stl(tmp_path / "odd.stl")


def test_mesh_buffer_layout_round_trips_with_16_and_32_bit_indices() -> None:
    buffer = mesh_buffer(TETRA, TETRA_FACES)
    assert buffer[:4] == b"MGM1" and struct.unpack_from("<III", buffer, 4) == (4, 4, 2)
    assert len(buffer) == 16 + 4 * 12 + 4 * 3 * 2
    vertices, faces = parse_mesh_buffer(buffer)
    np.testing.assert_array_equal(vertices, TETRA)
    np.testing.assert_array_equal(faces, TETRA_FACES)
    many = np.zeros((70_000, 3), np.float32)
    wide = np.array([[0, 1, 69_999]])
    assert struct.unpack_from("<III", mesh_buffer(many, wide), 4) == (70_000, 1, 4)
    np.testing.assert_array_equal(parse_mesh_buffer(mesh_buffer(many, wide))[1], wide)
    with pytest.raises(InputError, match="outside the vertex list"):
        mesh_buffer(TETRA, [[0, 1, 4]])
    with pytest.raises(InputError, match="truncated"):
        parse_mesh_buffer(buffer[:-1])


WELDED_MJCF = """<mujoco>
  <default>
    <default class="robot">
      <geom contype="0" conaffinity="0"/>
      <default class="visual"><geom group="2" type="mesh" material="grey"/></default>
    </default>
  </default>
  <asset><material name="grey" rgba="0.4 0.4 0.4 1"/></asset>
  <worldbody>
    <body name="base" pos="0 0 1" childclass="robot">
      <freejoint/>
      <geom class="visual" type="box" size="0.1 0.2 0.3" pos="0.01 0.02 0.03" rgba="1 0 0 1"/>
      <geom type="sphere" size="0.05" group="3"/>
      <body name="left_hip_pitch_link" pos="0.1 0.2 -0.3" quat="0.9 0.1 -0.2 0.3">
        <joint name="left_hip_pitch_joint" axis="0 1 0"/>
        <body name="bracket" pos="0.05 0 -0.1" quat="0.8 0 0.6 0">
          <geom class="visual" type="cylinder" size="0.02 0.07" pos="0 0.03 0" quat="0.7 0.7 0 0"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def test_a_welded_body_belongs_to_its_parents_joint_with_its_transform_composed(tmp_path: Path) -> None:
    """A tiny MJCF: a free base, one hinge body and a body welded to it; MuJoCo places the geoms."""
    mujoco = pytest.importorskip("mujoco")
    xml = tmp_path / "robot.xml"
    xml.write_text(WELDED_MJCF)
    names = ("pelvis_skel", "left_hip_pitch_skel")
    geoms = g1_visual_geoms(xml, names)
    assert [(g.joint, g.body, g.kind) for g in geoms] == [
        ("pelvis_skel", "base", "box"), ("left_hip_pitch_skel", "bracket", "cylinder")]
    assert geoms[0].rgba == (1.0, 0.0, 0.0, 1.0) and geoms[1].rgba == (0.4, 0.4, 0.4, 1.0)  # geom's own, else material
    np.testing.assert_allclose(geoms[0].dimensions, M @ [0.1, 0.2, 0.3])  # box half sizes in our axes
    assert geoms[1].dimensions == (0.02, 0.07)

    # our side: the hinge joint's global rotation G = G_root (M Q_body M^T) R(M axis, q), as for the G1
    q, root_rot, root_pos = 0.7, Rotation.from_euler("xyz", [0.3, -0.5, 1.1]).as_matrix(), np.array([0.2, 0.9, -0.4])
    body_q = np.array([0.9, 0.1, -0.2, 0.3]) / np.linalg.norm([0.9, 0.1, -0.2, 0.3])
    q_body = Rotation.from_quat(np.roll(body_q, -1)).as_matrix()
    hinge = root_rot @ (M @ q_body @ M.T) @ Rotation.from_rotvec(q * (M @ [0, 1, 0])).as_matrix()
    rotations = np.stack([root_rot, hinge])
    positions = np.stack([root_pos, root_pos + root_rot @ (M @ [0.1, 0.2, -0.3])])

    model = mujoco.MjModel.from_xml_string(WELDED_MJCF)
    data = mujoco.MjData(model)
    x, y, z, w = Rotation.from_matrix(M.T @ root_rot @ M).as_quat()
    data.qpos[:] = [*(M.T @ root_pos), w, x, y, z, q]
    mujoco.mj_kinematics(model, data)
    visual = [k for k in range(model.ngeom) if model.geom_group[k] == 2]
    assert len(visual) == len(geoms)
    for k, geom in zip(visual, geoms):
        rotation, position = geom_world_poses(geom, positions, rotations, names)
        np.testing.assert_allclose(position, M @ data.geom_xpos[k], atol=1e-9)
        np.testing.assert_allclose(rotation, M @ data.geom_xmat[k].reshape(3, 3) @ M.T, atol=1e-9)


def test_unsupported_placements_and_unknown_meshes_are_named(tmp_path: Path) -> None:
    xml = tmp_path / "robot.xml"
    xml.write_text(WELDED_MJCF.replace('pos="0.05 0 -0.1" quat="0.8 0 0.6 0"', 'euler="0 90 0"'))
    with pytest.raises(InputError, match="body 'bracket'.*'euler'"):
        g1_visual_geoms(xml, ("pelvis_skel", "left_hip_pitch_skel"))
    xml.write_text(WELDED_MJCF.replace('type="box" size="0.1 0.2 0.3"', 'mesh="nothing"'))
    with pytest.raises(InputError, match="mesh 'nothing'"):
        g1_visual_geoms(xml, ("pelvis_skel", "left_hip_pitch_skel"))
    xml.write_text(WELDED_MJCF)
    with pytest.raises(InputError, match="left_hip_pitch_joint.*no skeleton joint"):
        g1_visual_geoms(xml, ("pelvis_skel", "right_hip_pitch_skel"))


# ==================================================================================================
# the real G1
@pytest.fixture(scope="module")
def g1_assets(data_dir: Path, cache_dir: Path) -> tuple[Path, Path]:
    """``(g1.xml, mesh folder)`` from the archives."""
    return g1_asset_paths(data_dir, cache_dir)


@pytest.fixture(scope="module")
def g1(data_dir: Path, cache_dir: Path) -> Skeleton:
    from motiongen.skeleton.registry import get_skeleton

    return get_skeleton("g1", data_dir, cache_dir)


@pytest.fixture(scope="module")
def mujoco_g1(g1_assets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The G1 compiled by MuJoCo, its meshes copied where ``meshdir="../meshes/g1"`` points (data README)."""
    mujoco = pytest.importorskip("mujoco")
    xml, meshes = g1_assets
    folder = tmp_path_factory.mktemp("mujoco_g1") / "g1skel34"
    shutil.copytree(xml.parents[1], folder)
    shutil.copytree(meshes, folder / "meshes" / "g1")
    return mujoco.MjModel.from_xml_path(str(folder / "xml" / "g1.xml"))


def hinge_motion(g1: Skeleton, angles: dict[str, np.ndarray], root_rotation: np.ndarray, root: np.ndarray) -> Any:
    """A G1 motion from hinge angles ``{joint: [T]}``: ``L_j = rest_rotation_j @ R(axis_j, q_j)``."""
    from motiongen.motion.motion import Motion

    t = len(root)
    local = np.broadcast_to(np.eye(3), (t, g1.num_joints, 3, 3)).copy()
    for joint, hinge in g1.extras["hinges"].items():
        q = angles.get(joint, np.zeros(t))
        axis_angle = q[:, None] * np.array(hinge["axis"])
        local[:, g1.index(joint)] = np.array(hinge["rest_rotation"]) @ Rotation.from_rotvec(axis_angle).as_matrix()
    local[:, 0] = root_rotation
    return Motion(local_rotations=local, root_translation=root, fps=30.0, skeleton=g1)


def walking_g1(g1: Skeleton, frames: int = FRAMES) -> Any:
    """Legs, arms and waist swinging (within the hinge ranges), the root moving forward along +Z."""
    phase = np.linspace(0, 2 * np.pi, frames)
    swing = np.sin(phase)
    angles = {
        "left_hip_pitch_skel": -0.6 * swing, "right_hip_pitch_skel": 0.6 * swing,
        "left_knee_skel": 0.5 + 0.4 * swing, "right_knee_skel": 0.5 - 0.4 * swing,
        "left_shoulder_pitch_skel": 0.8 * swing, "right_shoulder_pitch_skel": -0.8 * swing,
        "left_elbow_skel": 1.0 + 0.5 * swing, "right_elbow_skel": 1.0 - 0.5 * swing,
        "left_shoulder_roll_skel": 0.3 + 0 * swing, "right_shoulder_roll_skel": -0.3 + 0 * swing,
        "waist_yaw_skel": 0.4 * swing,
    }
    root = np.zeros((frames, 3))
    root[:, 1] = 0.76
    root[:, 2] = np.linspace(0, 0.6, frames)
    return hinge_motion(g1, angles, np.broadcast_to(np.eye(3), (frames, 3, 3)), root)


@pytest.mark.data
def test_visual_geom_table_matches_the_xml_and_every_mesh_file_is_there(g1_assets: tuple[Path, Path],
                                                                       mujoco_g1: Any) -> None:
    xml, mesh_dir = g1_assets
    geoms = g1_visual_geoms(xml)
    assert len(geoms) == int((mujoco_g1.geom_group == 2).sum()) == G1_VISUAL_GEOMS
    assert sum(g.kind == "cylinder" for g in geoms) == G1_CYLINDERS
    assert len(unique_geoms(geoms)) == G1_VISUAL_GEOMS - G1_REPEATS
    meshes = {g.mesh: g.mesh_file for g in geoms if g.kind == "mesh"}
    assert all((mesh_dir / f).is_file() for f in meshes.values()), [f for f in meshes.values() if not (mesh_dir / f).is_file()]
    # every hinge body carries geoms, on the joint of its hinge; the pelvis body on the root
    carried = {g.joint for g in geoms}
    assert carried == {"pelvis_skel", *g1_hinges_of(xml)}
    assert {g.body for g in geoms if g.joint == "waist_pitch_skel"} == {"torso_link"}
    assert {g.mesh for g in geoms if g.joint == "waist_pitch_skel"} == {"torso_link", "logo_link", "head_link"}
    # colours: material 'black' where the XML says so, else the visual class's 'silver'
    assert next(g for g in geoms if g.mesh == "pelvis").rgba == (0.2, 0.2, 0.2, 1.0)
    assert next(g for g in geoms if g.mesh == "left_knee_link").rgba == (0.7, 0.7, 0.7, 1.0)


def g1_hinges_of(xml: Path) -> set[str]:
    from motiongen.skeleton.kimodo_assets import g1_hinges

    return set(g1_hinges(xml, G1_JOINT_NAMES))


@pytest.mark.data
def test_geom_poses_from_our_fk_equal_mujocos_kinematics(g1: Skeleton, g1_assets: tuple[Path, Path],
                                                        mujoco_g1: Any) -> None:
    """Random hinge angles (within their ranges) and a tilted, turned root: our FK's body frames equal
    MuJoCo's ``xpos`` / ``xmat``, and every visual geom's vertices land where MuJoCo puts them."""
    import mujoco

    xml, mesh_dir = g1_assets
    rng = np.random.default_rng(7)
    hinges = g1.extras["hinges"]
    frames = 2
    angles = {j: rng.uniform(*h["range"], size=frames) for j, h in hinges.items()}
    root_rotation = Rotation.random(frames, random_state=3).as_matrix()
    root = rng.normal(size=(frames, 3))
    motion = hinge_motion(g1, angles, root_rotation, root)
    rotations, positions = motion.forward_kinematics()
    geoms = g1_visual_geoms(xml)
    meshes = {g.mesh: converted_mesh(mesh_dir / g.mesh_file)[0].astype(np.float64) for g in geoms if g.mesh}
    model, data = mujoco_g1, mujoco.MjData(mujoco_g1)
    visual = [k for k in range(model.ngeom) if model.geom_group[k] == 2]
    for t in range(frames):
        x, y, z, w = Rotation.from_matrix(M.T @ root_rotation[t] @ M).as_quat()
        data.qpos[:7] = [*(M.T @ root[t]), w, x, y, z]
        for joint, hinge in hinges.items():
            jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, hinge["mujoco_joint"])
            data.qpos[model.jnt_qposadr[jid]] = angles[joint][t]
        mujoco.mj_kinematics(model, data)
        for body in range(1, model.nbody):
            jid = model.body_jntadr[body]
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, jid)
            joint = "pelvis_skel" if model.jnt_type[jid] == mujoco.mjtJoint.mjJNT_FREE else name.removesuffix("_joint") + "_skel"
            j = g1.index(joint)
            np.testing.assert_allclose(M @ data.xpos[body], positions[t, j], atol=1e-5)
            np.testing.assert_allclose(M @ data.xmat[body].reshape(3, 3) @ M.T, rotations[t, j], atol=1e-5)
        for k, geom in zip(visual, geoms):
            rotation, position = geom_world_poses(geom, positions[t], rotations[t])
            if geom.kind != "mesh":
                np.testing.assert_allclose(position, M @ data.geom_xpos[k], atol=1e-5)
                np.testing.assert_allclose(rotation, M @ data.geom_xmat[k].reshape(3, 3) @ M.T, atol=1e-5)
                continue
            # MuJoCo recentres each mesh on its own frame; compare where the vertices land in the world
            mesh = model.geom_dataid[k]
            start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
            theirs = (data.geom_xmat[k].reshape(3, 3) @ model.mesh_vert[start:start + count].T).T + data.geom_xpos[k]
            ours = (rotation @ (meshes[geom.mesh] * geom.scale).T).T + position
            assert cKDTree(ours).query(theirs @ M.T)[0].max() < 1e-5, geom.mesh
            assert cKDTree(theirs @ M.T).query(ours)[0].max() < 1e-5, geom.mesh


@pytest.mark.data
def test_motion_payload_carries_g1_rotations_only(g1: Skeleton, tmp_path: Path) -> None:
    from motiongen.io.kimodo_npz import write_kimodo_npz
    from motiongen.viz.folder import write_positions_npz
    from motiongen.viz.server import motion_payload

    motion = walking_g1(g1, 12)
    write_kimodo_npz(motion, tmp_path / "walk.npz")
    payload = motion_payload(tmp_path / "walk.npz", "walk.npz")
    assert payload["skeleton"] == "g1" and payload["rotations_order"] == "xyzw"
    quats = np.frombuffer(base64.b64decode(payload["rotations_b64"]), dtype="<f4").reshape(12, 34, 4)
    np.testing.assert_allclose(Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(12, 34, 3, 3),
                               motion.global_rotations(), atol=1e-5)
    write_positions_npz(tmp_path / "positions.npz", motion.joint_positions(), g1)
    payload = motion_payload(tmp_path / "positions.npz", "positions.npz")
    assert "rotations_b64" not in payload and "joint positions only" in payload["rotations_unavailable"]
    # other rigs: no rotations at all (payloads stay small)
    from toy_rig import toy_skeleton

    from motiongen.motion.motion import Motion

    toy = toy_skeleton()
    write_kimodo_npz(Motion(np.broadcast_to(np.eye(3), (5, toy.num_joints, 3, 3)), np.zeros((5, 3)), 30.0, toy),
                     tmp_path / "toy.npz")
    assert not {"rotations_b64", "rotations_unavailable"} & set(motion_payload(tmp_path / "toy.npz", "toy.npz"))


# ==================================================================================================
# the server
def get(server: ViewerServer, path: str, method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def view_root(tmp_path_factory: pytest.TempPathFactory, g1: Skeleton) -> Path:
    """A viewer folder: ``walk`` (a G1 KIMODO npz in ``generated/``, its first half as ``gt/``) and
    ``points`` (positions only: no rotations to place meshes with)."""
    from motiongen.io.kimodo_npz import write_kimodo_npz
    from motiongen.viz.folder import write_folder_manifest, write_positions_npz

    root = tmp_path_factory.mktemp("g1_view") / "view"
    motion = walking_g1(g1)
    write_kimodo_npz(motion, root / "generated" / "walk.npz")
    write_positions_npz(root / "generated" / "points.npz", motion.joint_positions(), g1)
    write_folder_manifest(root)
    return root


def serve(root: Path, **kwargs: Any) -> Iterator[ViewerServer]:
    srv = ViewerServer(root, port=0, **kwargs)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def server(view_root: Path, data_dir: Path, cache_dir: Path) -> Iterator[ViewerServer]:
    yield from serve(view_root, data_dir=data_dir, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def bare_server(view_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerServer]:
    """The same folder served where no archives are."""
    yield from serve(view_root, data_dir=tmp_path_factory.mktemp("no_archives"))


@pytest.mark.data
def test_mesh_endpoints_serve_the_converted_meshes(server: ViewerServer, g1_assets: tuple[Path, Path]) -> None:
    status, body = get(server, "/api/g1-meshes")
    assert status == 200
    manifest = json.loads(body)
    assert manifest["available"] is True and manifest["reason"] == ""
    assert manifest["visual_geoms"] == G1_VISUAL_GEOMS and manifest["duplicates_skipped"] == G1_REPEATS
    assert len(manifest["geoms"]) == G1_VISUAL_GEOMS - G1_REPEATS
    assert set(manifest["meshes"]) == {g["mesh"] for g in manifest["geoms"] if g["kind"] == "mesh"}
    geom = next(g for g in manifest["geoms"] if g["mesh"] == "left_rubber_hand")
    assert geom["joint"] == "left_wrist_yaw_skel"
    np.testing.assert_allclose(geom["position"], M @ [0.0415, 0.003, 0], atol=1e-12)
    _, mesh_dir = g1_assets
    for name in ("left_knee_link", "head_link"):
        status, body = get(server, manifest["meshes"][name]["url"])
        assert status == 200
        vertices, faces = parse_mesh_buffer(body)
        expected_vertices, expected_faces = converted_mesh(mesh_dir / f"{name}.STL")
        np.testing.assert_array_equal(vertices, expected_vertices)
        np.testing.assert_array_equal(faces, expected_faces)
        assert get(server, manifest["meshes"][name]["url"], "HEAD")[0] == 200
    assert server.g1_meshes.mesh_bytes("head_link") is server.g1_meshes.mesh_bytes("head_link")  # converted once


REFUSED = [
    ("/api/g1-mesh/..%2f..%2fxml%2fg1.xml", {403}),
    ("/api/g1-mesh/../g1.xml", {403}),
    ("/api/g1-mesh/%2e%2e", {403}),
    ("/api/g1-mesh/%2Fetc%2Fpasswd", {403}),
    ("/api/g1-mesh//etc/passwd", {403}),
    ("/api/g1-mesh/g1%2Fhead_link.STL", {403}),
    ("/api/g1-mesh/head_link%00", {403}),
    ("/api/g1-mesh/..%5chead_link", {403}),
    ("/api/g1-mesh/head_link.STL", {404}),  # a file name is not a mesh name
    ("/api/g1-mesh/torso_link_rev_1_0", {404}),
    ("/api/g1-mesh/", {404}),
]


@pytest.mark.data
@pytest.mark.parametrize(("path", "allowed"), REFUSED, ids=[p for p, _ in REFUSED])
def test_mesh_endpoint_refuses_paths_and_unknown_names(server: ViewerServer, path: str, allowed: set[int]) -> None:
    status, body = get(server, path)
    assert status in allowed, (path, status, body)
    assert not body.startswith(b"MGM1") and b"<mujoco" not in body


@pytest.mark.data
def test_without_the_archives_the_manifest_says_why(bare_server: ViewerServer) -> None:
    status, body = get(bare_server, "/api/g1-meshes")
    manifest = json.loads(body)
    assert status == 200 and manifest["available"] is False
    assert "not found" in manifest["reason"] and "geoms" not in manifest
    status, body = get(bare_server, "/api/g1-mesh/head_link")
    assert status == 404 and "G1 meshes unavailable" in json.loads(body)["error"]


@pytest.mark.data
def test_library_refuses_a_mesh_file_outside_its_folder(g1_assets: tuple[Path, Path], tmp_path: Path) -> None:
    xml, mesh_dir = g1_assets
    bad = tmp_path / "g1.xml"
    bad.write_text(xml.read_text().replace('file="head_link.STL"', 'file="../../../../etc/passwd"'))
    library = G1MeshLibrary(xml_path=bad, mesh_dir=mesh_dir)
    manifest = library.manifest()
    assert manifest["available"] is False and "head_link" in manifest["reason"]
    with pytest.raises(KeyError):
        library.mesh_bytes("head_link")


# ==================================================================================================
# the page
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from headless_chromium()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(server, case)`` -> a page showing that case, drawn; console errors are checked at the end."""
    pages: list[tuple[Any, list[str]]] = []

    def opener(srv: ViewerServer, case: str) -> Any:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
        page.goto(f"{srv.url}#case={case}")
        page.wait_for_selector(f"body[data-ready='1'][data-case='{case}']", state="attached", timeout=TIMEOUT_MS)
        pages.append((page, errors))
        return page

    yield opener
    for page, errors in pages:
        page.close()
        assert errors == [], errors


def redraw(page: Any) -> None:
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def view_pixels(page: Any) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.locator("#view").screenshot())).convert("RGB")).astype(int)


def changed(a: np.ndarray, b: np.ndarray, tolerance: int = 24) -> int:
    """How many pixels differ by more than ``tolerance`` in some channel."""
    return int((np.abs(a - b).max(axis=-1) > tolerance).sum())


@pytest.mark.data
def test_page_draws_the_g1_with_its_meshes_and_plays_them(open_page: Callable[..., Any], server: ViewerServer) -> None:
    page = open_page(server, "walk")
    assert page.inner_text("#mesh-note") == ""
    figure = "window.viewer.state.figures[0].figure"
    # one group per joint that carries meshes: the pelvis and the 29 hinges
    assert page.evaluate(f"{figure}.bodies.length") == 30
    page.uncheck("#follow")  # a still camera: what changes on screen is the robot
    page.evaluate("window.viewer.setFrame(0)")
    with_both = figure_pixels(page)
    page.uncheck("#skeleton")
    assert page.evaluate(f"{figure}.boneMesh.visible") is False
    meshes_only = figure_pixels(page)
    page.check("#skeleton")
    page.uncheck("#meshes")
    assert page.evaluate(f"{figure}.bodies[0].group.visible") is False
    skeleton_only = figure_pixels(page)
    # measured 5500 against 2457 pixels: the G1's 34 joint spheres already make a chunky skeleton
    assert skeleton_only > 200 and meshes_only > 1.8 * skeleton_only, (meshes_only, skeleton_only)
    assert with_both >= meshes_only  # the bones mostly run inside the meshes
    # meshes alone, at two frames: the robot moved
    page.check("#meshes")
    page.uncheck("#skeleton")
    redraw(page)
    first = view_pixels(page)
    page.evaluate(f"window.viewer.setFrame({FRAMES // 4})")
    redraw(page)
    assert changed(first, view_pixels(page)) > 0.2 * meshes_only
    # played, not only scrubbed: frames advance and the meshes follow the joints
    wrist = ("(() => { const f = window.viewer.state.figures[0].figure; const b = f.bodies.find(b => "
             "f.motion.joint_names[b.joint] === 'left_wrist_yaw_skel'); return b.group.position.toArray(); })()")
    before = page.evaluate(wrist)
    page.click("#play")
    page.wait_for_function(f"window.viewer.state.frame !== {FRAMES // 4}", timeout=TIMEOUT_MS)
    page.click("#play")
    frame = page.evaluate("window.viewer.state.frame")
    after = page.evaluate(wrist)
    positions = page.evaluate(f"Array.from({figure}.motion.positions.slice({frame} * 34 * 3, ({frame} + 1) * 34 * 3))")
    left_wrist_yaw = G1_JOINT_NAMES.index("left_wrist_yaw_skel")
    np.testing.assert_allclose(after, positions[3 * left_wrist_yaw:3 * left_wrist_yaw + 3], atol=1e-6)
    assert after != before


@pytest.mark.data
def test_page_falls_back_to_the_skeleton_with_a_note(open_page: Callable[..., Any], server: ViewerServer,
                                                     bare_server: ViewerServer) -> None:
    page = open_page(server, "points")  # positions only: nothing to turn the meshes with
    fetched = "performance.getEntriesByType('resource').some(e => e.name.includes('/api/g1-mesh'))"
    assert page.evaluate(fetched) is False  # so the meshes were not even fetched
    assert page.inner_text("#mesh-note").startswith("G1 meshes unavailable: ")
    assert "joint positions only" in page.inner_text("#mesh-note")
    assert page.evaluate("window.viewer.state.figures[0].figure.bodies.length") == 0
    assert page.evaluate("window.viewer.state.figures[0].figure.boneMesh.visible") is True
    page = open_page(bare_server, "walk")  # the archives are missing
    note = page.inner_text("#mesh-note")
    assert note.startswith("G1 meshes unavailable: ") and "not found" in note
    assert page.evaluate("window.viewer.state.figures[0].figure.bodies.length") == 0
    assert figure_pixels(page) > 200  # the skeleton is drawn


def figure_pixels(page: Any) -> int:
    """How many pixels of the view the first figure covers (a screenshot with it, one without)."""
    redraw(page)
    shown = view_pixels(page)
    page.evaluate("window.viewer.state.figures[0].figure.group.visible = false")
    redraw(page)
    empty = view_pixels(page)
    page.evaluate("window.viewer.state.figures[0].figure.group.visible = true")
    redraw(page)
    return changed(shown, empty)
