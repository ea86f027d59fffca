"""Discover the motion clips held in the unpacked archives, with their labels.

Rules (one :class:`ClipSource` per usable clip; every file left out is a :class:`SkippedClip` with
its reason, counted in the dataset stats):

- **Bandai** (``bandai-namco-bvh``): every ``dataset-N_{content}_{style}_{take}.bvh`` in
  ``dataset/Bandai-Namco-Research-Motiondataset-{1,2}/data``. Content and style come from the
  clip's JSON (``{"content": i, "style": j}``, 0-based indices into ``cfg/content_label.txt`` and
  ``cfg/style_label.txt``) and must agree with the file name; the take id is the file name's last
  field. A JSON without its BVH (``dataset-1_dance-long_normal_001``) is skipped. Clip id:
  ``bandai/<file stem>``; leakage group: ``bandai/dataset-1/<content>/<style>/<take>`` (one file)
  and ``bandai/dataset-2/<content>/<take>``.
- **CMU** (``cmu-amc``): ``Rotations/{Training,Testing}/SS_TT - description.amc`` with
  ``Rotations/asf/SS.asf``, and ``105/105_TT.amc`` with ``105/105.asf``. Subject and trial come from
  the file name. The description is the trial's row in ``text-annotations/CMU data.csv`` (CMU's own
  index, also giving the frame rate), falling back to the file name's label; the KIT-ML sentences are
  the entries of ``datasets/annotations/kitml/annotations.json`` whose ``path`` is
  ``CMU/<SS>/<SS>_<TT>_poses`` (subject zero-padded to 2 digits), with their start/end seconds.
  Trials without an ASF (subject 35) are skipped, and so is the second copy of a trial present in
  both ``Training`` and ``Testing`` (16_08, 16_47; the files are identical). Clip id: ``cmu/SS_TT``;
  leakage group: ``cmu/<subject>``.
- **HDM05** (``hdm05-amc``): ``{train,test}/<class number>/HDM_<actor>_<motion tag>_<take>_120.amc``
  with the actor's ``HDM_<actor>.asf`` from the same folder. The class is the folder number, checked
  against the motion tag in the file name (see :data:`HDM05_CLASSES`); a mismatch is skipped. Clip id:
  ``hdm05/<file stem>``; leakage group: ``hdm05/<actor>``.

Paths in a clip's provenance are relative to its unpacked archive, so ``clips.jsonl`` does not
depend on where the cache lives.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from motiongen.errors import InputError, UnknownNameError

SOURCES = ("bandai", "cmu", "hdm05")

#: Archive keys (``motiongen.data.archives.ARCHIVES``) each source reads.
SOURCE_ARCHIVES: dict[str, tuple[str, ...]] = {
    "bandai": ("bandai",),
    "cmu": ("cmu", "text"),
    "hdm05": ("hdm05",),
}

#: HDM05 classes: folder number -> (motion tag in the file names, class name).
HDM05_CLASSES: dict[int, tuple[str, str]] = {
    1: ("depositFloorR", "deposit floor R"),
    2: ("elbowToKnee1RepsLelbowStart", "elbow to knee"),
    3: ("grabHighR", "grab high R"),
    4: ("hopBothLegs1hops", "hop both legs"),
    5: ("jogLeftCircle4StepsRstart", "jog left circle"),
    6: ("kickLFront1Reps", "kick L front"),
    7: ("lieDownFloor", "lie down floor"),
    8: ("rotateArmsBothBackward1Reps", "rotate arms backward"),
    9: ("sneak2StepsLStart", "sneak"),
    10: ("squat1Reps", "squat"),
    11: ("throwBasketball", "throw basketball"),
}

CMU_DEFAULT_FPS = 120.0
HDM05_FPS = 120.0
BANDAI_FPS = 30.0

_BANDAI_NAME = re.compile(r"^dataset-(?P<ds>[12])_(?P<content>[a-z-]+)_(?P<style>[a-z-]+)_(?P<take>\d+)$")
_CMU_NAME = re.compile(r"^(?P<subject>\d+)_(?P<trial>\d+)\s*-?\s*(?P<label>.*?)\s*$")
_HDM05_NAME = re.compile(r"^HDM_(?P<actor>[a-z]+)_(?P<tag>[A-Za-z0-9]+)_(?P<take>\d+)_(?P<fps>\d+)$")


@dataclass(frozen=True)
class ClipSource:
    """One usable clip found in the archives.

    Attributes:
        clip_id: unique id, ``<source>/<name>`` (see module docstring).
        source: ``bandai``, ``cmu`` or ``hdm05``.
        path: absolute path of the motion file (BVH or AMC).
        rig_path: absolute path of the ASF for AMC clips, ``None`` for BVH.
        fps: the file's frame rate.
        group: leakage group key; every clip of a group lands in the same split.
        weight: file size in bytes, proportional to the clip's frame count (used to balance splits
            of sources with few groups).
        labels: source-specific labels (content/style/take, subject/trial/description/kitml,
            actor/class), JSON-serialisable.
        provenance: ``{"archive": key, "file": path inside the unpacked archive, "rig": ...}``.
    """

    clip_id: str
    source: str
    path: Path
    rig_path: Path | None
    fps: float
    group: str
    weight: int
    labels: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedClip:
    """A file that holds (or should hold) a clip but cannot be used, and why."""

    clip_id: str
    source: str
    file: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"clip_id": self.clip_id, "source": self.source, "file": self.file, "reason": self.reason}


def read_label_file(path: Path) -> list[str]:
    """Labels of a Bandai ``cfg/*_label.txt`` (one per line, the dataset prefix removed)."""
    if not path.is_file():
        raise InputError("label file is missing", path=path)
    labels = []
    for line in path.read_text().splitlines():
        name = line.strip()
        if name:
            labels.append(re.sub(r"^dataset-\d+_", "", name))
    return labels


def discover_bandai(root: Path) -> tuple[list[ClipSource], list[SkippedClip]]:
    """Clips of Bandai datasets 1 and 2 under the unpacked ``bandai-namco-bvh`` folder ``root``."""
    clips: list[ClipSource] = []
    skipped: list[SkippedClip] = []
    for ds in (1, 2):
        base = root / "dataset" / f"Bandai-Namco-Research-Motiondataset-{ds}"
        contents = read_label_file(base / "cfg" / "content_label.txt")
        styles = read_label_file(base / "cfg" / "style_label.txt")
        for label_path in sorted((base / "data").glob("*.json")):
            stem = label_path.stem
            rel = label_path.relative_to(root).with_suffix(".bvh").as_posix()
            clip_id = f"bandai/{stem}"
            m = _BANDAI_NAME.match(stem)
            if m is None:
                raise InputError("Bandai file name does not match dataset-N_{content}_{style}_{take}", path=label_path)
            try:
                label = json.loads(label_path.read_text())
                content, style = contents[int(label["content"])], styles[int(label["style"])]
            except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
                raise InputError(
                    f"expected {{\"content\": 0..{len(contents) - 1}, \"style\": 0..{len(styles) - 1}}} ({exc})",
                    path=label_path,
                ) from None
            if (content, style) != (m["content"], m["style"]):
                raise InputError(
                    f"labels say {content}/{style} but the file name says {m['content']}/{m['style']}", path=label_path
                )
            bvh = label_path.with_suffix(".bvh")
            if not bvh.is_file():
                skipped.append(SkippedClip(clip_id, "bandai", rel, "BVH file missing from the archive"))
                continue
            clips.append(
                ClipSource(
                    clip_id=clip_id,
                    source="bandai",
                    path=bvh,
                    rig_path=None,
                    fps=BANDAI_FPS,
                    # dataset 1 has one take per content and style, so a take is one file there;
                    # dataset 2's take numbers are grouped across styles (see splits.py)
                    group=(
                        f"bandai/dataset-{ds}/{content}/{style}/{m['take']}"
                        if ds == 1
                        else f"bandai/dataset-{ds}/{content}/{m['take']}"
                    ),
                    weight=bvh.stat().st_size,
                    labels={"dataset": ds, "content": content, "style": style, "take": m["take"]},
                    provenance={"archive": "bandai", "file": rel},
                )
            )
    return clips, skipped


def read_cmu_index(csv_path: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """``(subject, trial) -> {"description", "fps"}`` from ``CMU data.csv``."""
    if not csv_path.is_file():
        raise InputError("CMU description index is missing", path=csv_path)
    out: dict[tuple[int, int], dict[str, Any]] = {}
    with csv_path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                key = (int(row["Subject"]), int(row["Trial #"]))
                fps = float(row["framerate"]) if row.get("framerate") else CMU_DEFAULT_FPS
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"expected integer Subject and Trial # and a numeric framerate ({exc})",
                                 path=csv_path, line=line) from None
            out[key] = {"description": (row.get("Motion Description") or "").strip(), "fps": fps}
    return out


def read_kitml_cmu(annotations_path: Path) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """``(subject, trial) -> [{"text", "start", "end"}]`` for KIT-ML entries of CMU trials."""
    if not annotations_path.is_file():
        raise InputError("KIT-ML annotations are missing", path=annotations_path)
    try:
        data = json.loads(annotations_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=annotations_path, line=exc.lineno) from None
    out: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for entry in data.values():
        m = re.fullmatch(r"CMU/(\d+)/(\d+)_(\d+)_poses", str(entry.get("path", "")))
        if m is None:
            continue
        key = (int(m.group(2)), int(m.group(3)))
        for ann in entry.get("annotations", []):
            text = " ".join(str(ann.get("text", "")).split())
            if text:
                out.setdefault(key, []).append(
                    {"text": text, "start": float(ann.get("start", 0.0)), "end": float(ann.get("end", entry.get("duration", 0.0)))}
                )
    return out


def discover_cmu(root: Path, text_root: Path) -> tuple[list[ClipSource], list[SkippedClip]]:
    """CMU trials under the unpacked ``cmu-amc`` folder, labelled from ``text-annotations``."""
    base = root / "cmu"
    text = text_root / "text-annotations"
    index = read_cmu_index(text / "CMU data.csv")
    kitml = read_kitml_cmu(text / "datasets" / "annotations" / "kitml" / "annotations.json")
    candidates = [(p, base / "Rotations" / "asf") for p in sorted((base / "Rotations").glob("*/*.amc"))]
    candidates += [(p, p.parent) for p in sorted(base.glob("105/*.amc"))]
    clips: list[ClipSource] = []
    skipped: list[SkippedClip] = []
    seen: dict[tuple[int, int], str] = {}
    for amc, asf_dir in candidates:
        rel = amc.relative_to(root).as_posix()
        m = _CMU_NAME.match(amc.stem)
        if m is None:
            raise InputError("CMU file name does not match 'SS_TT - description.amc'", path=amc)
        subject, trial = int(m["subject"]), int(m["trial"])
        key = (subject, trial)
        clip_id = f"cmu/{subject:02d}_{trial:02d}"
        if key in seen:
            skipped.append(SkippedClip(clip_id, "cmu", rel, f"duplicate: the same trial as {seen[key]}"))
            continue
        seen[key] = rel
        asf = asf_dir / f"{subject:02d}.asf"
        if not asf.is_file():
            skipped.append(SkippedClip(clip_id, "cmu", rel, f"no ASF for subject {subject:02d}"))
            continue
        row = index.get(key, {})
        file_label = m["label"].strip()
        clips.append(
            ClipSource(
                clip_id=clip_id,
                source="cmu",
                path=amc,
                rig_path=asf,
                fps=float(row.get("fps", CMU_DEFAULT_FPS)),
                group=f"cmu/{subject:02d}",
                weight=amc.stat().st_size,
                labels={
                    "subject": subject,
                    "trial": trial,
                    "description": row.get("description") or file_label,
                    "file_label": file_label,
                    "kitml": kitml.get(key, []),
                },
                provenance={"archive": "cmu", "file": rel, "rig": asf.relative_to(root).as_posix()},
            )
        )
    return clips, skipped


def discover_hdm05(root: Path) -> tuple[list[ClipSource], list[SkippedClip]]:
    """HDM05 clips under the unpacked ``hdm05-amc`` folder."""
    base = root / "hdm05"
    clips: list[ClipSource] = []
    skipped: list[SkippedClip] = []
    for amc in sorted(base.glob("*/*/*.amc")):
        rel = amc.relative_to(root).as_posix()
        clip_id = f"hdm05/{amc.stem}"
        m = _HDM05_NAME.match(amc.stem)
        folder = amc.parent.name
        if m is None or not folder.isdigit() or int(folder) not in HDM05_CLASSES:
            skipped.append(SkippedClip(clip_id, "hdm05", rel, "unexpected name: not HDM_<actor>_<tag>_<take>_<fps>.amc in a class folder 1..11"))
            continue
        tag, class_name = HDM05_CLASSES[int(folder)]
        if m["tag"] != tag:
            skipped.append(SkippedClip(clip_id, "hdm05", rel, f"class mismatch: motion tag '{m['tag']}' in class folder {folder} ('{tag}')"))
            continue
        asf = amc.parent / f"HDM_{m['actor']}.asf"
        if not asf.is_file():
            skipped.append(SkippedClip(clip_id, "hdm05", rel, f"no ASF for actor {m['actor']}"))
            continue
        clips.append(
            ClipSource(
                clip_id=clip_id,
                source="hdm05",
                path=amc,
                rig_path=asf,
                fps=float(m["fps"]) if int(m["fps"]) > 0 else HDM05_FPS,
                group=f"hdm05/{m['actor']}",
                weight=amc.stat().st_size,
                labels={
                    "actor": m["actor"],
                    "class_index": int(folder),
                    "class_name": class_name,
                    "motion_tag": tag,
                    "take": m["take"],
                    "archive_split": amc.parent.parent.name,
                },
                provenance={"archive": "hdm05", "file": rel, "rig": asf.relative_to(root).as_posix()},
            )
        )
    return clips, skipped


def discover(source: str, raw: Mapping[str, Path]) -> tuple[list[ClipSource], list[SkippedClip]]:
    """Clips of ``source`` given the unpacked archive folders ``raw`` (archive key -> folder)."""
    if source == "bandai":
        return discover_bandai(raw["bandai"])
    if source == "cmu":
        return discover_cmu(raw["cmu"], raw["text"])
    if source == "hdm05":
        return discover_hdm05(raw["hdm05"])
    raise UnknownNameError(f"unknown source '{source}'; allowed: {', '.join(SOURCES)}")
