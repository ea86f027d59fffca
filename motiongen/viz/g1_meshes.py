"""The Unitree G1's visual meshes for the web viewer: which joint moves each visual geom of ``g1.xml``,
where it sits in that joint's frame (in our axes), and its STL converted into a compact buffer.

Frames. KIMODO's G1 local rotations already hold the XML body ``quat`` attributes (reference 3.2,
5.2), so the orientation of the MuJoCo body holding hinge ``<x>_joint`` is, in our axes, the global
rotation of our joint ``<x>_skel``, and the body origin is that joint's position::

    MUJOCO_TO_KIMODO @ R_body_mj @ MUJOCO_TO_KIMODO.T == G_joint,   MUJOCO_TO_KIMODO @ x_body_mj == p_joint

(``tests/test_viz_g1.py`` checks this against MuJoCo's own kinematics). The body with the free joint
is our root (``pelvis_skel``); a body without a joint is welded to its parent and its geoms belong to
the parent's joint, with the fixed body transform composed in. A geom's pose is then a constant
transform in its joint's frame, and the viewer draws it at ``p_joint + G_joint (position + rotation
(scale * v))`` for each vertex ``v`` of the converted mesh (already in our axes).

Visual geoms are those in MJCF geom group 2 (the ``visual`` class of Unitree's and MuJoCo
Menagerie's models; collision geoms are group 3). Mesh vertices are converted to our axes
(``v_ours = MUJOCO_TO_KIMODO @ v_mj``, a cyclic permutation, so triangle winding is kept), shared
corners are merged, nothing is decimated.

Mesh buffer layout (little-endian), :func:`mesh_buffer`::

    b"MGM1", uint32 V, uint32 F, uint32 index_bytes (2 or 4)
    float32 positions [V, 3]
    uint16 or uint32 triangle indices [F, 3]   (uint16 when V <= 65535)

:class:`G1MeshLibrary` finds the assets (the ``kimodo-assets`` and ``g1-meshes`` archives, through
the registry defaults or ``MOTIONGEN_DATA``), builds the JSON manifest the page reads and converts
each mesh once, on first request.
"""

from __future__ import annotations

import re
import struct
import tarfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from motiongen.errors import InputError, MotiongenError
from motiongen.skeleton.kimodo_assets import G1_JOINTS, MUJOCO_TO_KIMODO

#: MJCF geom group of visual geoms in the G1 model (collision geoms are group 3).
VISUAL_GROUP = 2
#: Primitive visual geom types the viewer draws besides meshes.
PRIMITIVE_KINDS = ("cylinder", "box", "sphere", "capsule")
#: Where the G1 model sits in the ``kimodo-assets`` folder, and its meshes in the ``g1-meshes`` folder.
G1_XML_RELATIVE = Path("skeletons", "g1skel34", "xml", "g1.xml")
G1_MESH_RELATIVE = Path("g1")
G1_JOINT_NAMES: tuple[str, ...] = tuple(name for name, _ in G1_JOINTS)
MESH_MAGIC = b"MGM1"
#: Names the mesh endpoint accepts (MJCF asset names of this model); anything else is refused.
MESH_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DEFAULT_RGBA = (0.5, 0.5, 0.5, 1.0)
_ORIENTATION_ATTRS = ("axisangle", "euler", "xyaxes", "zaxis", "fromto")


@dataclass(frozen=True)
class G1VisualGeom:
    """One visual geom of ``g1.xml``, placed in the frame of the joint that moves it, in our axes.

    Attributes:
        joint: our joint, e.g. ``left_knee_skel`` (``pelvis_skel`` for the free-floating body).
        body: the MuJoCo body holding the geom.
        kind: ``mesh`` or one of :data:`PRIMITIVE_KINDS`.
        mesh: the mesh asset name (``None`` for primitives).
        mesh_file: the mesh's file name, relative to the mesh folder (``None`` for primitives).
        position: ``[3]`` geom origin in the joint frame (metres).
        rotation: ``[3, 3]`` geom orientation in the joint frame.
        scale: ``[3]`` per-axis mesh scale in our axes (ones for primitives).
        dimensions: primitive size in our axes: cylinder / capsule ``(radius, half_length)`` along
            the local Y axis, sphere ``(radius,)``, box ``(half_x, half_y, half_z)``; empty for meshes.
        rgba: the colour (geom ``rgba``, else its material's, else MuJoCo's grey).
    """

    joint: str
    body: str
    kind: str
    mesh: str | None
    mesh_file: str | None
    position: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    dimensions: tuple[float, ...]
    rgba: tuple[float, float, float, float]

    def to_json(self) -> dict[str, Any]:
        """The page's description: ``quaternion`` is three.js order ``(x, y, z, w)``."""
        return {
            "joint": self.joint,
            "body": self.body,
            "kind": self.kind,
            "mesh": self.mesh,
            "position": [float(v) for v in self.position],
            "quaternion": [float(v) for v in Rotation.from_matrix(self.rotation).as_quat()],
            "scale": [float(v) for v in self.scale],
            "dimensions": [float(v) for v in self.dimensions],
            "rgba": [float(v) for v in self.rgba],
        }


# ==================================================================================================
# g1.xml
def _numbers(text: str, count: int, path: Path, where: str) -> np.ndarray:
    """``count`` finite floats from an MJCF attribute value."""
    try:
        values = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.shape != (count,) or not np.isfinite(values).all():
        raise InputError(f"'{text}' is not {count} finite numbers", path=path, field=where)
    return values


def _rgba(values: np.ndarray) -> tuple[float, float, float, float]:
    """Four floats ``(r, g, b, a)``."""
    r, g, b, a = (float(v) for v in values)
    return r, g, b, a


def _class_defaults(root: ET.Element) -> dict[str, dict[str, dict[str, str]]]:
    """MJCF default classes: class -> element tag -> attributes, after inheritance (outer classes first)."""
    out: dict[str, dict[str, dict[str, str]]] = {}

    def walk(node: ET.Element, inherited: dict[str, dict[str, str]]) -> None:
        merged = {tag: dict(attrs) for tag, attrs in inherited.items()}
        for child in node:
            if child.tag != "default":
                merged.setdefault(child.tag, {}).update(child.attrib)
        out[node.get("class", "main")] = merged
        for child in node.findall("default"):
            walk(child, merged)

    for top in root.findall("default"):
        walk(top, {})
    return out


def _resolved(element: ET.Element, childclass: str, defaults: dict[str, dict[str, dict[str, str]]]) -> dict[str, str]:
    """``element``'s attributes over those of its default class (its own, else the body's childclass)."""
    attrs = dict(defaults.get(element.get("class", childclass), {}).get(element.tag, {}))
    attrs.update(element.attrib)
    return attrs


def _pose(attrs: dict[str, str], path: Path, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(R [3, 3], p [3])`` of a body or geom from ``pos`` and ``quat`` (MuJoCo axes)."""
    unsupported = [a for a in _ORIENTATION_ATTRS if a in attrs]
    if unsupported:
        raise InputError(f"uses {unsupported[0]!r}; only 'pos' and 'quat' placements are supported", path=path,
                         field=where)
    position = _numbers(attrs["pos"], 3, path, f"{where} pos") if "pos" in attrs else np.zeros(3)
    rotation = np.eye(3)
    if "quat" in attrs:
        w, x, y, z = _numbers(attrs["quat"], 4, path, f"{where} quat")
        if np.hypot(np.hypot(w, x), np.hypot(y, z)) < 1e-12:
            raise InputError("is a zero quaternion", path=path, field=f"{where} quat")
        rotation = Rotation.from_quat([x, y, z, w]).as_matrix()
    return rotation, position


def _to_ours(rotation: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A MuJoCo-axes transform ``(R, p)`` in our axes: ``(M R M^T, M p)``."""
    m = MUJOCO_TO_KIMODO
    return m @ rotation @ m.T, m @ position


def _body_joint(body: ET.Element, childclass: str, defaults: dict[str, dict[str, dict[str, str]]],
                joint_names: Sequence[str], path: Path) -> str | None:
    """Our joint moved by ``body``'s own joint (the root for a free joint), ``None`` if it is welded."""
    name = body.get("name", "")
    if body.find("freejoint") is not None:
        return joint_names[0]
    joints = [_resolved(j, childclass, defaults) for j in body.findall("joint")]
    if not joints:
        return None
    if len(joints) > 1:
        raise InputError(f"body '{name}' holds {len(joints)} joints; one hinge per body is supported", path=path)
    joint = joints[0]
    kind = joint.get("type", "hinge")
    if kind == "free":
        return joint_names[0]
    if kind != "hinge":
        raise InputError(f"body '{name}' holds a {kind} joint; only hinges are supported", path=path)
    if np.any(_numbers(joint.get("pos", "0 0 0"), 3, path, f"{joint.get('name')} pos") != 0):
        raise InputError(f"hinge '{joint.get('name')}' is not at its body's origin", path=path)
    ours = joint.get("name", "").removesuffix("_joint") + "_skel"
    if ours not in joint_names:
        raise InputError(f"hinge '{joint.get('name')}' has no skeleton joint '{ours}'", path=path)
    return ours


def _assets(root: ET.Element, defaults: dict[str, dict[str, dict[str, str]]], path: Path,
            ) -> tuple[dict[str, tuple[str, np.ndarray]], dict[str, tuple[float, float, float, float]]]:
    """Mesh assets ``name -> (file, scale [3] in MuJoCo axes)`` and material colours ``name -> rgba``."""
    meshes: dict[str, tuple[str, np.ndarray]] = {}
    materials: dict[str, tuple[float, float, float, float]] = {}
    for asset in root.findall("asset"):
        for mesh in asset.findall("mesh"):
            attrs = _resolved(mesh, "main", defaults)
            if "file" not in attrs:
                continue  # a mesh given by vertex lists: not in this model, and not drawn
            name = attrs.get("name", Path(attrs["file"]).stem)
            scale = _numbers(attrs.get("scale", "1 1 1"), 3, path, f"mesh '{name}' scale")
            meshes[name] = (attrs["file"], scale)
        for material in asset.findall("material"):
            attrs = _resolved(material, "main", defaults)
            rgba = _numbers(attrs.get("rgba", "1 1 1 1"), 4, path, f"material '{attrs.get('name')}' rgba")
            materials[attrs.get("name", "")] = _rgba(rgba)
    return meshes, materials


def _primitive_dimensions(kind: str, attrs: dict[str, str], path: Path, where: str) -> tuple[float, ...]:
    """A primitive's ``size`` in our axes (see :attr:`G1VisualGeom.dimensions`)."""
    values = [float(v) for v in attrs.get("size", "").split()] if attrs.get("size") else []
    need = {"sphere": 1, "cylinder": 2, "capsule": 2, "box": 3}[kind]
    if len(values) < need or not all(np.isfinite(values[:need])) or min(values[:need]) <= 0:
        raise InputError(f"a {kind} needs {need} positive size values, got '{attrs.get('size', '')}'", path=path,
                         field=where)
    if kind == "box":
        return tuple(float(v) for v in MUJOCO_TO_KIMODO @ np.array(values[:3]))
    return tuple(values[:need])


def g1_visual_geoms(xml_path: str | Path, joint_names: Sequence[str] = G1_JOINT_NAMES) -> list[G1VisualGeom]:
    """Every visual geom (group :data:`VISUAL_GROUP`) of ``g1.xml``, in XML order (see module docstring).

    Args:
        xml_path: the MJCF file.
        joint_names: our G1 joints (root first); hinge ``<x>_joint`` maps to ``<x>_skel``.

    Raises:
        InputError: malformed XML, a hinge without a joint, an unknown mesh or an unsupported
            placement (``euler``, ``fromto``, ...).
    """
    path = Path(xml_path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"cannot read the MJCF model ({exc})", path=path) from None
    defaults = _class_defaults(root)
    meshes, materials = _assets(root, defaults, path)
    geoms: list[G1VisualGeom] = []

    def walk(body: ET.Element, childclass: str, owner: str | None, frame: tuple[np.ndarray, np.ndarray]) -> None:
        childclass = body.get("childclass", childclass)
        name = body.get("name", "")
        joint = _body_joint(body, childclass, defaults, joint_names, path)
        if joint is not None:
            owner, frame = joint, (np.eye(3), np.zeros(3))
        else:
            if owner is None:
                raise InputError(f"top-level body '{name}' has no joint; the G1 root needs a free joint", path=path)
            r_body, p_body = _pose(body.attrib, path, f"body '{name}'")
            frame = (frame[0] @ r_body, frame[0] @ p_body + frame[1])
        for k, geom in enumerate(body.findall("geom")):
            attrs = _resolved(geom, childclass, defaults)
            if int(attrs.get("group", "0")) != VISUAL_GROUP:
                continue
            where = f"body '{name}' geom {geom.get('name') or k}"
            r_geom, p_geom = _pose(attrs, path, where)
            rotation, position = _to_ours(frame[0] @ r_geom, frame[0] @ p_geom + frame[1])
            kind = attrs.get("type", "sphere")
            mesh = mesh_file = None
            scale, dimensions = np.ones(3), ()
            if kind == "mesh":
                mesh = attrs.get("mesh")
                if mesh not in meshes:
                    raise InputError(f"names mesh {mesh!r}, which the model's assets do not define", path=path,
                                     field=where)
                mesh_file, scale_mj = meshes[mesh]
                scale = MUJOCO_TO_KIMODO @ scale_mj
            elif kind in PRIMITIVE_KINDS:
                dimensions = _primitive_dimensions(kind, attrs, path, where)
            else:
                raise InputError(f"is a visual {kind!r} geom; drawn are meshes and {', '.join(PRIMITIVE_KINDS)}",
                                 path=path, field=where)
            if "rgba" in attrs:
                rgba = _rgba(_numbers(attrs["rgba"], 4, path, f"{where} rgba"))
            else:
                rgba = materials.get(attrs.get("material", ""), _DEFAULT_RGBA)
            geoms.append(G1VisualGeom(owner, name, kind, mesh, mesh_file, position, rotation, scale, dimensions, rgba))
        for child in body.findall("body"):
            walk(child, childclass, owner, frame)

    for worldbody in root.findall("worldbody"):
        for body in worldbody.findall("body"):
            walk(body, "main", None, (np.eye(3), np.zeros(3)))
    if not geoms:
        raise InputError(f"holds no visual geoms (geom group {VISUAL_GROUP})", path=path)
    return geoms


def unique_geoms(geoms: Sequence[G1VisualGeom]) -> list[G1VisualGeom]:
    """``geoms`` without exact repeats (same joint, shape and pose): ``g1.xml`` lists a few visual
    meshes twice, which would only be drawn twice in the same place."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for g in geoms:
        key = (g.joint, g.kind, g.mesh, g.dimensions, g.rgba, g.position.round(9).tobytes(),
               g.rotation.round(9).tobytes(), g.scale.round(9).tobytes())
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def geom_world_poses(geom: G1VisualGeom, positions: np.ndarray, rotations: np.ndarray,
                     joint_names: Sequence[str] = G1_JOINT_NAMES) -> tuple[np.ndarray, np.ndarray]:
    """World pose of ``geom`` over a motion: ``(R [..., 3, 3], p [..., 3])``.

    Args:
        positions: ``[..., J, 3]`` joint positions.
        rotations: ``[..., J, 3, 3]`` global joint rotations (``Motion.global_rotations()``).
    """
    j = list(joint_names).index(geom.joint)
    g, p = rotations[..., j, :, :], positions[..., j, :]
    return g @ geom.rotation, p + g @ geom.position


# ==================================================================================================
# STL
_STL_TRIANGLE = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
_ASCII_VERTEX = re.compile(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)")


def read_stl(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The triangles of an STL file (binary, or ASCII): ``vertices [V, 3]`` float32 with shared
    corners merged, and ``faces [F, 3]`` int64 indices into them, in the file's axes and winding."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the STL file ({exc.strerror or exc})", path=path) from None
    count = struct.unpack_from("<I", data, 80)[0] if len(data) >= 84 else -1
    if count >= 0 and len(data) == 84 + count * _STL_TRIANGLE.itemsize:
        corners = np.frombuffer(data, dtype=_STL_TRIANGLE, count=count, offset=84)["corners"].reshape(-1, 3)
    elif data.lstrip()[:5].lower() == b"solid" and b"endsolid" in data[-1024:].lower():
        try:
            corners = np.array(_ASCII_VERTEX.findall(data), dtype=np.float64).astype(np.float32)
        except ValueError:
            raise InputError("an ASCII STL with unreadable vertex lines", path=path) from None
        if corners.shape[0] % 3:
            raise InputError(f"an ASCII STL with {corners.shape[0]} vertices, not whole triangles", path=path)
    else:
        expected = f" (its header counts {count} triangles: {84 + count * _STL_TRIANGLE.itemsize} bytes)" if count >= 0 else ""
        raise InputError(f"not an STL file: {len(data)} bytes make neither a binary STL{expected} nor an ASCII STL",
                         path=path)
    if corners.shape[0] == 0:
        raise InputError("an STL file without triangles", path=path)
    if not np.isfinite(corners).all():
        raise InputError("an STL file with NaN or infinite coordinates", path=path)
    vertices, inverse = np.unique(corners, axis=0, return_inverse=True)
    return vertices.astype(np.float32), inverse.reshape(-1, 3).astype(np.int64)


def mesh_buffer(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """``vertices [V, 3]`` and ``faces [F, 3]`` in the viewer's binary layout (module docstring)."""
    vertices = np.ascontiguousarray(vertices, dtype="<f4")
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise InputError(f"expected vertices [V, 3] and faces [F, 3], got {vertices.shape} and {faces.shape}",
                         field="mesh")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise InputError("face indices fall outside the vertex list", field="mesh")
    index_type = "<u2" if len(vertices) <= 0xFFFF else "<u4"
    header = MESH_MAGIC + struct.pack("<III", len(vertices), len(faces), np.dtype(index_type).itemsize)
    return header + vertices.tobytes() + np.ascontiguousarray(faces, dtype=index_type).tobytes()


def parse_mesh_buffer(buffer: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`mesh_buffer`: ``(vertices [V, 3] float32, faces [F, 3] int64)``."""
    if len(buffer) < 16 or buffer[:4] != MESH_MAGIC:
        raise InputError("not a motiongen mesh buffer", field="mesh")
    v, f, index_bytes = struct.unpack_from("<III", buffer, 4)
    if index_bytes not in (2, 4) or len(buffer) != 16 + 12 * v + 3 * index_bytes * f:
        raise InputError("a truncated or inconsistent mesh buffer", field="mesh")
    vertices = np.frombuffer(buffer, dtype="<f4", count=3 * v, offset=16).reshape(v, 3)
    faces = np.frombuffer(buffer, dtype=f"<u{index_bytes}", count=3 * f, offset=16 + 12 * v).reshape(f, 3)
    return vertices, faces.astype(np.int64)


def converted_mesh(path: str | Path, scale: Sequence[float] = (1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """An STL file's mesh in our axes: ``vertices [V, 3]`` float32 (``M @ v``) and ``faces [F, 3]``.
    ``scale`` is the geom's mesh scale, already in our axes, and is left to the viewer unless given."""
    vertices, faces = read_stl(path)
    ours = vertices.astype(np.float64) @ MUJOCO_TO_KIMODO.T * np.asarray(scale, dtype=np.float64)
    return ours.astype(np.float32), faces


# ==================================================================================================
# per-frame body rotations of a motion file
def g1_rotations(path: str | Path, num_frames: int) -> tuple[np.ndarray | None, str]:
    """Global joint rotations ``[T, 34, 3, 3]`` of the G1 motion in ``path``, or ``(None, reason)``.

    A KIMODO ``.npz`` gives its ``global_rot_mats`` (or ``joints_rot``) as they are, else its local
    rotations through FK (:func:`motiongen.io.formats.load_motion`, as for ``.bvh``); a positions-only
    file (``motiongen eval``'s viewer folders) has none.
    """
    path = Path(path)
    expected = (num_frames, len(G1_JOINT_NAMES), 3, 3)
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                key = next((k for k in ("global_rot_mats", "joints_rot") if k in data.files), None)
                has_local = "local_rot_mats" in data.files
                rotations = data[key] if key is not None else None
        except (ValueError, OSError, EOFError) as exc:
            return None, f"cannot read the file's rotations ({exc})"
        if rotations is not None:
            rotations = rotations[0] if rotations.ndim == 5 and rotations.shape[0] == 1 else rotations
            if rotations.shape != expected or not np.isfinite(rotations).all():
                return None, f"its global_rot_mats have shape {rotations.shape}, not {list(expected)}"
            return rotations.astype(np.float64), ""
        if not has_local:
            return None, "the file holds joint positions only (no rotations)"
    from motiongen.io.formats import load_motion

    try:
        motion = load_motion(path)
    except (MotiongenError, OSError) as exc:
        return None, f"cannot read the file's rotations ({exc})"
    rotations = motion.global_rotations()
    if rotations.shape != expected:
        return None, f"its rotations have shape {rotations.shape}, not {list(expected)}"
    return rotations, ""


def rotations_payload(path: str | Path, num_frames: int) -> dict[str, Any]:
    """The extra ``/api/motion`` keys of a G1 motion: ``rotations_b64`` (float32 quaternions
    ``[T, J, 4]`` in three.js order ``x, y, z, w``, base64), else ``rotations_unavailable`` (why)."""
    import base64

    rotations, reason = g1_rotations(path, num_frames)
    if rotations is None:
        return {"rotations_unavailable": reason}
    quaternions = Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_quat().astype("<f4")
    return {"rotations_b64": base64.b64encode(quaternions.tobytes()).decode("ascii"), "rotations_order": "xyzw"}


# ==================================================================================================
# the server's mesh library
def g1_asset_paths(data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> tuple[Path, Path]:
    """``(g1.xml, the folder of its STL meshes)`` from the unpacked ``kimodo-assets`` and ``g1-meshes``
    archives (registry defaults: ``MOTIONGEN_DATA`` or ``../shared/data``, unpacked into the cache).

    Raises:
        DataNotFoundError: an archive, the model or the mesh folder is missing.
    """
    from motiongen.data.archives import unpacked
    from motiongen.errors import DataNotFoundError

    xml = unpacked("kimodo", data_dir, cache_dir) / "kimodo-assets" / G1_XML_RELATIVE
    meshes = unpacked("g1_meshes", data_dir, cache_dir) / "g1-meshes" / G1_MESH_RELATIVE
    if not xml.is_file():
        raise DataNotFoundError(f"the G1 model '{xml}' is not in the kimodo-assets archive")
    if not meshes.is_dir():
        raise DataNotFoundError(f"the G1 mesh folder '{meshes}' is not in the g1-meshes archive")
    return xml, meshes


class G1MeshLibrary:
    """The G1 visual geoms and converted meshes the viewer server hands out (thread-safe, lazy).

    The assets are looked up on first use; if they cannot be had, :meth:`manifest` says why and the
    page draws G1 motions as skeletons. Converted mesh buffers are kept in memory.

    Args:
        data_dir: folder of the archives (default: the registry's, ``MOTIONGEN_DATA``).
        cache_dir: where archives are unpacked (default ``MOTIONGEN_CACHE``).
        xml_path, mesh_dir: the model and its mesh folder directly, instead of the archives.
        url_prefix: the server path under which :meth:`mesh_bytes` is served.
    """

    def __init__(self, data_dir: str | Path | None = None, cache_dir: str | Path | None = None, *,
                 xml_path: str | Path | None = None, mesh_dir: str | Path | None = None,
                 url_prefix: str = "/api/g1-mesh/") -> None:
        self.data_dir, self.cache_dir = data_dir, cache_dir
        self._given = (Path(xml_path), Path(mesh_dir)) if xml_path is not None and mesh_dir is not None else None
        self.url_prefix = url_prefix
        self._lock = threading.Lock()
        self._loaded = False
        self._reason = ""
        self._mesh_dir: Path | None = None
        self._geoms: list[G1VisualGeom] = []
        self._files: dict[str, Path] = {}
        self._buffers: dict[str, bytes] = {}
        self._manifest: dict[str, Any] = {}

    def _load(self) -> None:
        """Find the assets and build the manifest once (under the lock)."""
        from motiongen.viz.server import PathRefused, resolve_inside

        if self._loaded:
            return
        self._loaded = True
        try:
            xml, mesh_dir = self._given if self._given is not None else g1_asset_paths(self.data_dir, self.cache_dir)
            mesh_dir = mesh_dir.resolve(strict=True)
            geoms = g1_visual_geoms(xml)
            files: dict[str, Path] = {}
            for g in geoms:
                if g.mesh is not None and g.mesh not in files:
                    if not MESH_NAME_PATTERN.match(g.mesh):
                        raise InputError(f"mesh name {g.mesh!r} is not a plain name", path=xml)
                    try:
                        files[g.mesh] = resolve_inside(mesh_dir, str(g.mesh_file))
                    except PathRefused as exc:
                        raise InputError(f"mesh file '{g.mesh_file}' of mesh '{g.mesh}': {exc.reason} "
                                         f"(looked in {mesh_dir})", path=xml) from None
        except (MotiongenError, OSError, tarfile.TarError) as exc:
            self._reason = str(exc) or type(exc).__name__
            self._manifest = {"available": False, "reason": self._reason}
            return
        self._mesh_dir, self._geoms, self._files = mesh_dir, geoms, files
        drawn = unique_geoms(geoms)
        self._manifest = {
            "available": True,
            "reason": "",
            "skeleton": "g1",
            "format": "MGM1: b'MGM1', uint32 V, F, index_bytes; float32 positions [V, 3]; uint16/32 indices [F, 3]",
            "geoms": [g.to_json() for g in drawn],
            "meshes": {name: {"url": self.url_prefix + name} for name in files},
            "visual_geoms": len(geoms),
            "duplicates_skipped": len(geoms) - len(drawn),
        }

    def manifest(self) -> dict[str, Any]:
        """``{"available": bool, "reason": str, "geoms": [...], "meshes": {name: {"url"}}, ...}``."""
        with self._lock:
            self._load()
            return self._manifest

    @property
    def geoms(self) -> list[G1VisualGeom]:
        """Every visual geom of the model (empty when unavailable)."""
        self.manifest()
        return list(self._geoms)

    def mesh_bytes(self, name: str) -> bytes:
        """The converted buffer of mesh ``name`` (:func:`mesh_buffer`), converted once.

        Raises:
            KeyError: the meshes are unavailable or the model has no mesh ``name``.
        """
        with self._lock:
            self._load()
            if name not in self._files:
                raise KeyError(f"no G1 mesh named '{name}'" if self._manifest.get("available")
                               else f"G1 meshes unavailable: {self._reason}")
            if name not in self._buffers:
                self._buffers[name] = mesh_buffer(*converted_mesh(self._files[name]))
            return self._buffers[name]
