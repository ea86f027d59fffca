"""Markdown tables from ``motiongen eval`` JSON files: one row per model, the real-data row first.

    python -m motiongen.evaluation.report metrics_a.json [metrics_b.json ...]

Figures are copied from the JSON, never typed; files that disagree on split, dataset or evaluator
version cannot share a table (:class:`~motiongen.errors.InputError` says which).
``scripts/render_readme.py`` builds the README's evaluation tables with these functions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from motiongen.errors import InputError

T2M_COLUMNS = (
    ("r_precision_top1", "R-prec top-1 ↑", 3),
    ("r_precision_top2", "top-2 ↑", 3),
    ("r_precision_top3", "top-3 ↑", 3),
    ("fid", "FID ↓", 3),
    ("mm_dist", "MM-Dist ↓", 3),
    ("diversity", "Diversity →", 3),
    ("multimodality", "MultiModality ↑", 3),
)
QUALITY_COLUMNS = (
    ("foot_skate_from_height", "foot skate (m/s) ↓", 3),
    ("foot_skate_ratio", "skate ratio ↓", 3),
    ("foot_skate_from_contacts", "planted feet (m/s) ↓", 3),
    ("foot_contact_consistency", "contact consistency ↑", 3),
    ("jitter", "jitter (m/s³) ↓", 1),
    ("penetration_max_depth", "max penetration (cm) ↓", 1),
    ("penetration_frame_ratio", "frames penetrating ↓", 3),
)


def load_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        try:
            out.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read metrics JSON ({exc})", path=path) from None
    return out


def _check_comparable(results: Sequence[Mapping[str, Any]], task: str) -> list[Mapping[str, Any]]:
    have = [r for r in results if task in r.get("tasks", {})]
    if not have:
        raise InputError(f"no metrics file has the '{task}' task", field="results")
    keys = {(r["split"], r["dataset"], r["evaluator"]["version"]) for r in have}
    if len(keys) > 1:
        raise InputError(f"'{task}' figures from different splits, datasets or evaluators cannot share a table: {sorted(keys)}",
                         field="results")
    return have


def _cell(value: Any, digits: int, scale: float = 1.0) -> str:
    if value is None:
        return "–"
    if isinstance(value, Mapping):
        mean, interval = value["mean"] * scale, value["interval"] * scale
        return f"{mean:.{digits}f} ± {interval:.{digits}f}" if value.get("n", 1) > 1 else f"{mean:.{digits}f}"
    return f"{value * scale:.{digits}f}"


def describe(result: Mapping[str, Any]) -> str:
    """One line naming split, dataset, evaluator, machine and date of a result."""
    m = result["machine"]
    return (f"split `{result['split']}` of `{result['dataset']}`, evaluator `{result['evaluator']['name']}` "
            f"(version `{result['evaluator']['version']}`); {m.get('cpu_count')} CPU cores, torch {m.get('torch')}, "
            f"{result['date'][:10]}, commit `{(result.get('git_commit') or 'unknown')[:12]}`")


def t2m_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Real row, floor row, then one row per model file."""
    have = _check_comparable(results, "t2m")
    first = have[0]["tasks"]["t2m"]
    lines = ["| | " + " | ".join(c[1] for c in T2M_COLUMNS) + " |", "|---|" + "---|" * len(T2M_COLUMNS)]

    def row(label: str, figures: Mapping[str, Any]) -> str:
        return f"| {label} | " + " | ".join(_cell(figures.get(k), d) for k, _, d in T2M_COLUMNS) + " |"

    real, floor = first["rows"][0], first["rows"][1]
    lines.append(row("**Real motion** (test captions vs test motions)", real))
    lines.append(row(f"Real train vs test (FID floor, {floor['train_items']} train motions)", floor))
    for r in have:
        t2m = r["tasks"]["t2m"]
        model_row = t2m["rows"][-1]
        settings = r["settings"]
        how = "deterministic" if r["model"].get("kind") == "smog" else f"{settings['steps']} steps"
        label = f"{r['model']['name']} (`{r['model']['hash'][:8]}`, {how}, {t2m['replications']} replications)"
        lines.append(row(label, model_row))
    chance = ", ".join(f"{c:.3f}" for c in first["chance_r_precision"])
    lines += [
        "",
        f"{first['samples_per_replication']} of {first['items']} test motions per replication (batches of 32); mean ± 95% "
        f"interval over replications; chance R-precision top-1/2/3 {chance}; MultiModality over "
        f"{first['multimodality']['captions']} captions x {first['multimodality']['repeats']} motions.",
    ]
    return "\n".join(lines)


def quality_table(results: Sequence[Mapping[str, Any]]) -> str:
    have = _check_comparable(results, "quality")
    lines = ["| | motions | " + " | ".join(c[1] for c in QUALITY_COLUMNS) + " |",
             "|---|---|" + "---|" * len(QUALITY_COLUMNS)]

    def row(label: str, figures: Mapping[str, Any]) -> str:
        cells = []
        for key, _, digits in QUALITY_COLUMNS:
            scale = 100.0 if key == "penetration_max_depth" else 1.0
            cells.append(_cell(figures.get(key), digits, scale))
        return f"| {label} | {figures.get('motions', '–')} | " + " | ".join(cells) + " |"

    lines.append(row("**Real motion** (test)", have[0]["tasks"]["quality"]["rows"][0]))
    for r in have:
        lines.append(row(r["model"]["name"], r["tasks"]["quality"]["rows"][-1]))
    return "\n".join(lines)


def inbetween_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Baselines (from the first file), then every file's model row; L2Q, L2P, NPSS per transition length."""
    have = _check_comparable(results, "inbetween")
    first = have[0]["tasks"]["inbetween"]
    lengths = list(first["rows"][0]["scores"])
    head = [f"L2Q {n}" for n in lengths] + [f"L2P {n}" for n in lengths] + [f"NPSS {n}" for n in lengths]
    lines = ["| method | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]

    def row(label: str, scores: Mapping[str, Any]) -> str:
        cells = [f"{scores[n]['l2q']:.3f}" for n in lengths] + [f"{scores[n]['l2p']:.3f}" for n in lengths]
        cells += [f"{scores[n]['npss']:.4f}" for n in lengths]
        return f"| {label} | " + " | ".join(cells) + " |"

    for r in first["rows"]:
        if r["kind"] == "baseline":
            lines.append(row(r["name"].replace("_", "-"), r["scores"]))
    for res in have:
        for r in res["tasks"]["inbetween"]["rows"]:
            if r["kind"] == "model":
                lines.append(row(f"{r['name']} (keyframes, {res['settings']['steps']} steps)", r["scores"]))
    lines += ["", f"{first['windows']} of {first['windows_available']} test windows, drawn once with the seed; protocol: "
                  f"{first['protocol']}; positions normalised with training-split statistics."]
    return "\n".join(lines)


def format_summary(result: Mapping[str, Any]) -> str:
    """Every task of one result as markdown tables (what ``motiongen eval`` prints)."""
    parts = [describe(result), ""]
    tasks = result["tasks"]
    if "t2m" in tasks:
        parts += ["Text to motion", "", t2m_table([result]), ""]
    if "quality" in tasks:
        parts += ["Motion quality", "", quality_table([result]), ""]
    if "inbetween" in tasks:
        parts += ["In-betweening", "", inbetween_table([result]), ""]
    if "constraints" in tasks:
        from motiongen.evaluation.constraints import format_tables

        c = tasks["constraints"]
        parts += ["Constraint following", "", format_tables(c["summary"], c["settings"]["types"], c["settings"]["split"]), ""]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(__doc__)
        return 2
    results = load_results(args)
    print(describe(results[0]))
    for task, make in (("t2m", t2m_table), ("quality", quality_table), ("inbetween", inbetween_table)):
        if any(task in r.get("tasks", {}) for r in results):
            print(f"\n{task}\n\n{make(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
