"""Render the README's measured tables from the benchmark JSON files (never typed by hand).

Each generated block sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in README.md.

    python scripts/render_readme.py           # rewrite the blocks
    python scripts/render_readme.py --check   # exit 1 if README.md differs from what the JSON gives
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _machine(result: dict) -> str:
    machine = result["machine"]
    return f"{machine['cpu_count']} cores, {machine['platform']}, {result['date'][:10]}"


def dataset_block() -> str:
    result = _load("dataset_build.json")
    stats = result["stats"]
    lines = [
        f"Built by `benchmarks/dataset_build.py` ({_machine(result)}); skeleton `{stats['skeleton']}`, "
        f"{stats['fps']:g} fps. Mirrored copies (train only) are not counted in the rows.",
        "",
        "| | clips | frames | hours | captions | unique captions |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, t: dict) -> str:
        return f"| {label} | {t['clips']} | {t['frames']} | {t['hours']:.2f} | {t['captions']} | {t['unique_captions']} |"

    lines.append(row("**all**", stats["total"]))
    for source, t in stats["by_source"].items():
        lines.append(row(source, t))
    for split, t in stats["by_split"].items():
        lines.append(row(f"split {split}", t))
    lines.append(row("mirrored copies (train)", stats["mirrored"]))
    lines += ["", "Per source and split (clips / hours):", "", "| source | train | val | test |", "|---|---|---|---|"]
    for source, splits in stats["by_source_split"].items():
        cells = " | ".join(f"{s['clips']} / {s['hours']:.2f}" for s in splits.values())
        lines.append(f"| {source} | {cells} |")
    skipped = stats["skipped"]
    lines += ["", f"Skipped: {skipped['count']} clips (" + "; ".join(f"{k}: {v}" for k, v in skipped["by_reason"].items()) + ")."]
    quality = stats.get("retarget_quality")
    if quality:
        lines += [
            "",
            "Retargeting onto `smplx22`, every clip (means over clips): bone-direction cosine to the source, over "
            "chain bones and over all mapped bones; the lowest foot joint's median height over each clip. Chain bones "
            "are matched exactly by the direction correction (this column guards that step). The bones leaving the "
            "pelvis and chest cannot all be matched by one rigid joint, because the rigs put those joints in different "
            "places (SMPL-X's hip joints sit 9 cm below its pelvis joint, Bandai's 2 cm): that is what lowers the "
            "all-bones column.",
            "",
            "| source | cosine, chain bones (mean / min) | cosine, all mapped bones | floor height median / max (cm) |",
            "|---|---|---|---|",
        ]
        for source, q in quality.items():
            lines.append(
                f"| {source} | {q['bone_cosine_mean']:.4f} / {q['bone_cosine_min']:.4f} | "
                f"{q['bone_cosine_with_branching_mean']:.4f} | "
                f"{100 * q['floor_height_m_median']:.1f} / {100 * q['floor_height_m_max_abs']:.1f} |"
            )
    return "\n".join(lines)


def benchmarks_block() -> str:
    build = _load("dataset_build.json")
    bvh = _load("bvh_throughput.json")
    lines = [
        f"Full dataset build from the archives (`python benchmarks/dataset_build.py`; {_machine(build)}, "
        f"{build['workers']} workers, fresh cache): **{build['wall_seconds']:.0f} s** in all (target: under 300 s); "
        f"compact training file {build['compact_bytes'] / 1e6:.1f} MB (limit 50 MB).",
        "",
        "| phase | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {phase} | {seconds:.1f} |" for phase, seconds in build["phases_s"].items()]
    lines += [
        "",
        f"BVH throughput over all {bvh['files']} Bandai files ({bvh['megabytes']:.0f} MB, {bvh['frames']} frames; "
        f"`python benchmarks/bvh_throughput.py`; {_machine(bvh)}, one process):",
        "",
        "| step | wall s | CPU s | MB/s | frames/s | files/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for step in ("read", "write"):
        r = bvh[step]
        lines.append(
            f"| {step} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['mb_per_s']:.1f} | "
            f"{r['frames_per_s']:.0f} | {r['files_per_s']:.1f} |"
        )
    rt = bvh["round_trip"]
    lines += [
        "",
        f"Read -> write -> read of every file: largest joint-position difference {rt['max_position_error_m']:.1e} m "
        f"({len(rt['layout_fps_or_frame_mismatches'])} layout, fps or frame-count mismatches; {len(bvh['failures'])} failures).",
    ]
    return "\n".join(lines)


def _sampling(settings: dict | None) -> str:
    """``; 25 DDIM steps, guidance regular 2.0, post-processed`` from a run's recorded settings."""
    if not settings:
        return ""
    weights = " / ".join(f"{w:g}" for w in settings.get("cfg_weights", []))
    post = "post-processed" if settings.get("postprocess") else "raw model output"
    return f"; {settings['steps']} DDIM steps, guidance {settings['cfg_type']} {weights}, {post}".rstrip()


def prompt_checks_block() -> str:
    result = _load("prompt_checks.json")
    info = result.get("model_info") or {}
    lines = [
        f"`python benchmarks/prompt_checks.py` on `{result['model']}` ({_machine(result)}; "
        f"{result['frames']} frames, seeds {', '.join(map(str, result['seeds']))}; a check passes with at least 4 of 5 "
        f"seeds; measured on the output joints{_sampling(result.get('settings'))}). Foot-skate reference: the real "
        "test-split clips of the same motion, same code (below); the whole test split, mostly standing gestures, "
        f"averages {result['real_foot_skate_test_split']:.3f} m/s.",
        "",
        "| check | seeds passing | passed |",
        "|---|---:|---|",
    ]
    for name, check in result["checks"].items():
        lines.append(f"| {name} | {len(check['seeds_passing'])} / {len(result['seeds'])} | {'yes' if check['passed'] else 'no'} |")
    lines += ["", f"**{result['passed']} of {result['total']} checks pass.**"]
    if info.get("steps") is not None:
        lines[-1] += f" Model: EMA weights after {info['steps']} training steps."
    real = result.get("real_foot_skate_by_prompt")
    if real:
        lines += [
            "",
            "| prompt | foot skate, generated (m/s, mean of the seeds) | real test clips of the motion (m/s) | real clips |",
            "|---|---:|---:|---|",
        ]
        for key, prompt in result["prompts"].items():
            values = [seed["foot_skate"] for seed in result["measures"][key].values()]
            lines.append(
                f"| {prompt} | {sum(values) / len(values):.3f} | {real[key]['foot_skate']:.3f} | "
                f"{real[key]['clips']} ({', '.join(real[key]['content'])}) |"
            )
    return "\n".join(lines)


def generate_speed_block() -> str:
    result = _load("generate_speed.json")
    model, settings = result["model"], result["settings"]
    lines = [
        f"`python benchmarks/generate_speed.py` on `{model['name']}` ({model['parameters'] / 1e6:.2f} M parameters; "
        f"{_machine(result)}, {settings['threads']} torch threads, device {result['machine']['device']}): one "
        f"{settings['frames']}-frame sample, {settings['cfg']}, median of {settings['repeats']} runs.",
        "",
        "| DDIM steps | latency (s) | ms per step |",
        "|---:|---:|---:|",
    ]
    for row in result["latency_one_sample"]:
        lines.append(f"| {row['steps']} | {row['median_s']:.2f} | {row['ms_per_step']:.1f} |")
    batch, memory = result["batch"], result["peak_memory"]
    lines += [
        "",
        f"Batch of {batch['samples']} at {batch['steps']} steps: {batch['samples_per_s']:.2f} samples/s. "
        f"Peak resident memory: {max(v for v in memory.values() if isinstance(v, (int, float))):.0f} MB "
        f"(model and text encoder loaded).",
    ]
    return "\n".join(lines)


def _imputation(share: float) -> str:
    if share <= 0:
        return "no imputation (the model is only conditioned on the constraints)"
    steps = "every denoising step" if share >= 1 else f"{share:.0%} of the denoising steps (noisiest first)"
    return f"constraints imputed smoothly on {steps}"


def _weights(result: dict) -> str:
    """``, EMA weights after N training steps`` from a run's ``model_info`` (empty when unknown)."""
    info = result.get("model_info") or {}
    return f", EMA weights after {info['steps']} training steps" if info.get("steps") is not None else ""


#: Constraint types in running text (the tables use ``motiongen.evaluation.constraints.TYPE_LABELS``).
SHORT_TYPE_LABELS = {"fullbody": "full body", "end_effector": "end effectors", "root2d_path": "dense path",
                     "root2d_waypoints": "waypoints", "mixed": "mixed"}


def _eligible_text(settings: dict) -> str:
    """Which test clips the windows were drawn from (records from before the caption-coverage rule
    took any window of a long-enough clip)."""
    coverage = settings.get("caption_coverage", 0.0)
    rule = f"of at least {settings['frames']} frames"
    if coverage:
        rule += f" whose caption describes at least {coverage:g} of a window"
    return f"clips {rule}: {settings['eligible_clips']}"


def _prompt_text(settings: dict) -> str:
    if settings.get("caption_coverage", 0.0):
        return (f"prompt = the clip's first caption whose span (the whole clip, or a timed sentence's seconds) shares "
                f"at least {settings['caption_coverage']:g} of the longer of itself and the window")
    return "prompt = the clip's first caption"


def constraint_benchmark_block() -> str:
    from motiongen.evaluation.constraints import error_table, motion_table
    from motiongen.postprocess.correct import MAX_PELVIS_DROP

    result = _load("constraint_benchmark.json")
    settings, summary = result["settings"], result["summary"]
    types = settings["types"]
    steps = _weights(result)
    threads = result["machine"]["torch_threads"]
    lines = [
        f"`python benchmarks/constraint_benchmark.py` on `{result['model']}`{steps} ({_machine(result)}, "
        f"{threads} torch thread{'s' if threads != 1 else ''}; {result['wall_seconds'] / 60:.0f} min): "
        f"{settings['cases']} windows of {settings['frames']} frames from the **{settings['split']}** split of "
        f"`{settings['dataset']}` ({_eligible_text(settings)}; seed "
        f"{settings['seed']}), canonicalised; {_prompt_text(settings)}; every constraint type on every "
        f"window; {settings['steps']} DDIM steps, guidance {settings['cfg_constrained']} with constraints, "
        f"{settings['cfg_unconstrained']} without; {_imputation(settings.get('impute', 0.0))}. "
        "*Raw* is the sampler's output, *post-processed* the pipeline's "
        "default (foot clean-up and constraint IK) from the same sample; *no constraints* is the same caption "
        "and seed generated without constraints, scored against the same targets.",
        "",
        "Error at the constrained frames, cm (mean / 95th percentile over all constrained entries of all windows):",
        "",
        error_table(summary, types),
        "",
        "Planted feet (m/s, mean over windows; `foot_skate_from_contacts`, KIMODO's `FootSkateFromContacts`: the "
        "foot joints' speed on the frames the generation predicts them planted), foot skate (m/s, mean over windows; "
        "`foot_skate_from_height`, as in the prompt checks: toe speed while the toe is below 5 cm, swings included) "
        f"and continuity (largest per-frame joint speed within {settings['continuity_radius_frames']} frames of a "
        "constrained frame over the real window's largest in the same frames; mean / 95th percentile over windows; "
        "1 = no faster than the real motion) and pops (the largest joint step into or out of a constrained frame over "
        "the median step of the 10 frames before it or after it, the editing benchmark's seam ratio: about 1 or below "
        "where the motion passes through the constrained frames at its own pace, well above 1 for a jump; mean / 95th "
        "percentile over windows, the real windows at the same frames beside it):",
        "",
        motion_table(summary, types, settings["split"]),
    ]
    first = summary[types[0]]
    real = summary["real"]
    real_skates = [case["real"]["foot_skate"] for case in result["per_case"]]
    lines += [
        "",
        f"Foot skate grows with locomotion (the real windows here score {min(real_skates):.2f} to "
        f"{max(real_skates):.2f} m/s, standing to walking): the constrained motion covers the real window's ground, "
        "the unconstrained one what the model chose, so the pelvis path (horizontal path length, mean over windows) "
        "is given beside them.",
        "",
        "Planted feet read sliding apart from pace: the post-processed feet slide "
        f"{first['unconstrained_postprocessed']['planted_slide']['mean']:.3f} m/s on their predicted contacts without "
        "constraints (the pelvis is moved with them) and "
        f"{min(summary[t]['postprocessed']['planted_slide']['mean'] for t in types):.3f} to "
        f"{max(summary[t]['postprocessed']['planted_slide']['mean'] for t in types):.3f} m/s with them, "
        "where the pelvis is dictated and a locked foot can fall out of its leg's reach at the ends of a contact, "
        f"farther than lowering the pelvis by up to {100 * MAX_PELVIS_DROP:.0f} cm brings back (the lock then lets it go).",
        "",
        f"In the real windows the pelvis is {real['pelvis_to_smooth_root_cm']['mean']:.1f} cm from the smooth root on "
        "average: the floor of the pelvis-to-target figure for a motion whose smooth root is exact.",
        "",
        _continuity_outliers(result),
    ]
    if "pop" in real:
        cells = "; ".join(
            f"{SHORT_TYPE_LABELS[t]} {summary[t]['postprocessed']['pop']['p95']:.2f} / {summary[t]['unconstrained_postprocessed']['pop']['p95']:.2f}"
            f" / {real['pop'][t]['p95']:.2f}"
            for t in types
        )
        lines += [
            "",
            "Pops, 95th percentile over windows, with constraints / the same caption and seed without them (scored at "
            f"the same frames) / the real windows: {cells}. A figure as high without constraints is the generated "
            "motion's own (a single large step in a wave, say), not a jump the constraints or the clean-up make.",
        ]
    return "\n".join(lines)


def _continuity_outliers(result: dict) -> str:
    """Which windows make the continuity's 95th percentile, with the same window's figure without
    constraints (scored at the same frames): a window the generation moves through much faster than
    the real one scores high either way; one that scores high only with constraints is the
    constraints' doing."""
    parts: list[str] = []
    both: dict[str, list[str]] = {}
    only: dict[str, list[str]] = {}
    for ctype in result["settings"]["types"]:
        ranked = sorted(result["per_case"], key=lambda c: -c["figures"][ctype]["postprocessed"]["continuity"])[:2]
        cells = []
        for c in ranked:
            with_c = c["figures"][ctype]["postprocessed"]["continuity"]
            without = c["figures"][ctype]["unconstrained_raw"]["continuity"]
            name = c["clip_id"].split("/")[-1]
            cells.append(f"`{name}` {with_c:.2f} ({without:.2f})")
            (both if without >= 0.75 * with_c else only).setdefault(name, []).append(SHORT_TYPE_LABELS[ctype])
        parts.append(f"{SHORT_TYPE_LABELS[ctype]}: {', '.join(cells)}")

    def windows(group: dict[str, list[str]]) -> str:
        return ", ".join(f"`{name}` ({', '.join(types)})" for name, types in group.items())

    n = result["settings"]["cases"]
    text = (
        "The continuity figure's largest windows (post-processed, and in brackets the same window generated without "
        f"constraints, scored at the same frames; with {n} windows the 95th percentile lies between the "
        f"{'second' if n <= 20 else 'second and third'}-largest): " + "; ".join(parts) + ". The ratio's denominator "
        "is the real window's largest joint speed near the constrained frames (every frame, for a dense path), so a "
        "window that is near-still in the real clip and that the generation moves through at its own pace scores high "
        "with or without constraints"
    )
    text += f": {windows(both)}" if both else ""
    if only:
        text += (
            ". High only with constraints, where the constrained generation moves much faster than the real window "
            f"and than the same caption without constraints: {windows(only)}"
        )
    return text + "."


EXAMPLE_TYPE_LABELS = {"fullbody": "full body", "end_effector": "end effectors", "root2d": "2D root"}
EXAMPLE_ERROR_OF = {"fullbody": ("joint_cm", "joints (mean)"), "end_effector": ("chain_base_cm", "chain base"), "root2d": ("pelvis_xz_cm", "pelvis (x, z)")}


def constraint_examples_block() -> str:
    result = _load("constraint_examples.json")
    settings, records = result["settings"], result["examples"]
    steps = _weights(result)
    threads = result["machine"]["torch_threads"]
    lines = [
        f"KIMODO's shipped example constraint files: `python benchmarks/constraint_benchmark.py` runs them after the "
        f"windows (`--examples-only` alone) on `{result['model']}`{steps} ({_machine(result)}, {threads} torch "
        f"thread{'s' if threads != 1 else ''}; {result['wall_seconds']:.0f} s). Every SOMA example with a "
        f"`constraints.json` (`{settings['examples']}`) is generated with its meta's prompt, frame count (duration x 30) "
        f"and seed, {settings['steps']} DDIM steps (KIMODO's: 100), guidance {settings['cfg_constrained']}, "
        f"{_imputation(settings.get('impute', 0.0))}; the constraints are read with `pipe.constraints_from_json` (the "
        "SOMA poses mapped onto `smplx22`) and the errors are measured against those **mapped** targets at the "
        "constrained frames (mean over entries, cm). *No constraints*: the same prompt and seed generated without "
        "constraints (post-processed). **Reference**: KIMODO's own generated motion of the example (its `motion.npz`, "
        "retargeted onto `smplx22`), scored against the same targets (*KIMODO's motion*) and the motion continuity is "
        f"measured against (largest per-frame joint speed within {settings['continuity_radius_frames']} frames of a "
        "constrained frame, ours over KIMODO's). Foot skate in m/s (post-processed). *Within bounds* (issue 4): "
        f"post-processed error under the bound, continuity (post-processed) at most {settings['continuity_bound']:g}, "
        "foot skate no worse than without constraints.",
        "",
        "| example | constraints @ frames | error of | raw | post-processed | no constraints | KIMODO's motion | bound "
        "| continuity, raw / post-processed | foot skate: ours / no constraints / KIMODO's | within bounds |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = passed = 0
    for rec in records:
        skate = rec["foot_skate"]
        for ctype, entry in rec["types"].items():
            metric, error_of = EXAMPLE_ERROR_OF[ctype]
            err = {s: e[metric]["mean"] for s, e in entry["errors"].items()}
            frames = entry["frames"]
            where = f"all {rec['num_frames']}" if len(frames) == rec["num_frames"] else ", ".join(map(str, frames))
            kinds = f" ({', '.join(sorted(set(entry['constraints'])))})" if ctype == "end_effector" else ""
            failed = [k.replace("_", " ") for k, ok in entry["checks"].items() if not ok]
            rows, passed = rows + 1, passed + (not failed)
            lines.append(
                f"| {rec['name']} | {EXAMPLE_TYPE_LABELS[ctype]}{kinds} @ {where} | {error_of} | {err['raw']:.1f} | "
                f"{err['postprocessed']:.1f} | {err['unconstrained_postprocessed']:.1f} | {err['reference']:.1f} | "
                f"< {settings['bounds_cm'][ctype]:g} | {entry['continuity']['raw']:.2f} / "
                f"{entry['continuity']['postprocessed']:.2f} | {skate['postprocessed']:.3f} / "
                f"{skate['unconstrained_postprocessed']:.3f} / {skate['reference']:.3f} | "
                f"{'yes' if not failed else 'no: ' + ', '.join(failed)} |"
            )
    lines += ["", f"**{passed} of {rows} rows within bounds.**"]
    return "\n".join(lines)


def _eval_results() -> list[dict]:
    """Every ``benchmarks/results/eval_*.json`` (one per model; the shipped KIMODO model first)."""
    paths = sorted(RESULTS.glob("eval_*.json"), key=lambda p: (p.name != "eval_kimodo-smplx.json", p.name))
    if not paths:
        raise SystemExit("no benchmarks/results/eval_*.json: run benchmarks/eval_full.py")
    return [json.loads(p.read_text()) for p in paths]


def _eval_intro(result: dict, what: str) -> str:
    from motiongen.evaluation.report import describe

    total = result["seconds"]["total"] / 60.0
    return (f"{what} `python benchmarks/eval_full.py` (`motiongen eval`, default settings: "
            f"{result['settings']['steps']} DDIM steps) on {describe(result)}; the whole evaluation took "
            f"{total:.1f} min of wall time (budget 30 min).")


def eval_t2m_block() -> str:
    from motiongen.evaluation.report import t2m_table

    results = _eval_results()
    first = results[0]["tasks"]["t2m"]
    real_top3 = first["rows"][0]["r_precision_top3"]["mean"]
    chance = first["chance_r_precision"][2]
    verdict = ("well above chance: fit to judge" if real_top3 > 3 * chance
               else "NOT far enough above chance: the evaluator is not fit to judge")
    return "\n".join([
        _eval_intro(results[0], "Text to motion, measured by"),
        "",
        t2m_table(results),
        "",
        f"The evaluator's own R-precision top-3 on real test pairs is **{real_top3:.3f}** against chance "
        f"{chance:.3f}: {verdict}.",
    ])


def eval_quality_block() -> str:
    from motiongen.evaluation.report import quality_table

    results = _eval_results()
    return "\n".join(["Motion quality (KIMODO's definitions; per-motion means, test split):", "", quality_table(results)])


def eval_inbetween_block() -> str:
    from motiongen.evaluation.report import inbetween_table

    results = _eval_results()
    return "\n".join([
        "In-betweening, LAFAN1 protocol on our test split (LAFAN1's published figures are on other data, "
        "`../shared/reference/benchmarks.md`):",
        "",
        inbetween_table(results),
    ])


def gifs_block() -> str:
    """The README's pictures (``scripts/render_readme_gifs.py`` makes them and ``docs/media/gifs.json``)."""
    data = json.loads((ROOT / "docs" / "media" / "gifs.json").read_text())
    cells = []
    for g in data["gifs"]:
        what = f"{g['model']}, \"{g['prompt']}\", {g['frames']} frames, seed {g['seed']}"
        if g["task"]:
            what += f", {g['task']}"
        cells.append(f"![{what}](docs/media/{g['file']})<br>{what} (model `{g['model_hash'][:8]}`)")
    return "\n".join([
        "Output of the shipped models as generated (`python scripts/render_readme_gifs.py`: fixed seeds, drawn by "
        "`motiongen render`; the orange line in the waypoints case is the root path; the G1 is drawn as its joint "
        "skeleton):",
        "",
        "| | |",
        "|---|---|",
        *(f"| {' | '.join(cells[i:i + 2] + [''] * (2 - len(cells[i:i + 2])))} |" for i in range(0, len(cells), 2)),
    ])


def viewer_fps_block() -> str:
    r = _load("viewer_fps.json")
    c = r["content"]
    # the benchmark counts 95% of the target as meeting it: requestAnimationFrame is capped at the
    # 60 Hz vsync, so even an idle page measures a little under 60
    verdict = "within 5% of" if r["meets_target"] else "below"
    return (f"Playback benchmark (`python benchmarks/viewer_fps.py`): {c['panels']} panels x {c['frames']} frames "
            f"({c['skeleton']}, {c['overlay']}) in headless Chromium with software WebGL ({r['webgl_renderer'].split('(')[0].strip()}, "
            f"no GPU): **{r['fps']:.1f} fps** (mean frame interval {r['mean_interval_ms']:.1f} ms, p95 "
            f"{r['p95_interval_ms']:.0f} ms), {verdict} the {r['target_fps']:g} fps target; {_machine(r)}, load average "
            f"{r['machine']['load_average_1m']:.1f} at the start.")


def smog_ablation_block() -> str:
    from motiongen.evaluation.smog import ablation_table

    result = _load("smog_ablation.json")
    return "\n".join([
        f"Measured by `python benchmarks/smog_ablation.py` ({_machine(result)}, commit "
        f"`{(result.get('git_commit') or 'unknown')[:12]}`):",
        "",
        ablation_table(result),
        "",
        _ablation_verdict(result),
    ])


def _ablation_verdict(result: dict) -> str:
    """Which arm of the KAN ablation won, in words, from the figures (the rows with KAN and without)."""
    kan = next((r for r in result["rows"] if r["kan_layers"] != "none"), None)
    linear = next((r for r in result["rows"] if r["kan_layers"] == "none"), None)
    if kan is None or linear is None:
        return ""
    def better(key: str, lower: bool) -> str:
        a, b = kan["figures"][key], linear["figures"][key]
        if a == b:
            return "the same"
        return "KAN" if (a < b) == lower else "Linear"
    recon, retrieval = better("mpjpe_cm", lower=True), better("r1", lower=False)
    claim = ("as SMoG's paper claims" if recon == retrieval == "KAN"
             else "against SMoG's paper's claim that KAN layers help" if recon == retrieval == "Linear"
             else "a split decision")
    return (f"With the same budget, the better reconstruction (MPJPE) is the {recon} arm's and the better "
            f"motion-to-text R@1 the {retrieval} arm's: {claim} (one training run with one seed per arm; the "
            "spread between seeds was not measured).")


def retarget_quality_block() -> str:
    from motiongen.evaluation.retargeting import retarget_table

    r = _load("retarget_quality.json")
    return "\n".join([
        f"Retargeting quality (`python benchmarks/retarget_quality.py`): the {r['clips']} {r['split']}-split clips of "
        f"the dataset ({r['source_skeleton']}, first {r['max_frames']} frames, {r['frames']} frames in all) onto each "
        f"rig; {_machine(r)}. End-effector error: wrists, ankles and head (the G1 has no head) of the result, divided "
        "by the leg-length scale, against the source's, in the world; foot skate: mean toe speed while on the floor "
        "(source -> scale-normalised result); lowest foot: the lowest foot joint over all frames and clips (clips "
        "that kneel or lie go below the floor set at the 5th percentile); G1 IK: joint-limited IK; joint-limit "
        "violations: G1 hinge angles outside their `g1.xml` range on any frame (must be 0). The rotation-aware "
        "rows keep the source's joint rotations, so rigs that place joints differently (SOMA's shoulders, "
        "Bandai's hips) move their hands and feet by the difference; the position rows solve for positions and lose "
        "twist.",
        "",
        retarget_table(r),
    ])


def style_classifier_block() -> str:
    r = _load("style_classifier.json")
    val = r["reference_splits"].get("val", {})
    lines = [
        f"Classifier `{r['classifier_version']}` (weights of training step {r['selected_step']}, picked on val); whole "
        f"unmirrored Bandai clips of `{r['dataset']}`; {_machine(r)}.",
        "",
        "| label set | styles | test accuracy | test clips | val accuracy | val clips | chance |",
        "|---|---|---|---|---|---|---|",
    ]
    for head, h in r["heads"].items():
        v = val.get(head, {})
        lines.append(
            f"| {head} | {len(h['styles'])} | {h['accuracy']:.3f} | {h['clips']} | "
            f"{v['accuracy']:.3f} | {v['clips']} | {h['chance']:.3f} |" if v else
            f"| {head} | {len(h['styles'])} | {h['accuracy']:.3f} | {h['clips']} | - | - | {h['chance']:.3f} |"
        )
    lines += [
        "",
        "Held-out clips are other takes of the same studio performances, so this is a ceiling: generated or edited "
        "motion is read less surely.",
    ]
    return "\n".join(lines)


def editing_block() -> str:
    from motiongen.evaluation.editing import editing_tables

    r = _load("editing.json")
    model, sampling = r["model"], r["edit_sampling"]
    cfg = sampling["cfg"]
    guidance = (
        "; ".join(f"{task} {kind} {'/'.join(f'{w:g}' for w in weights)}" for task, (kind, weights) in cfg.items())
        if isinstance(cfg, dict) else f"{cfg[0]} {cfg[1]}"
    )
    return "\n".join([
        f"Measured with `python benchmarks/editing.py` ({model['name']}{_weights({'model_info': model['info']})}; "
        f"{_machine(r)}). Every edit has its own seed; {sampling['steps']} DDIM steps, "
        f"{'post-processed' if sampling['postprocess'] else 'raw'}, guidance {guidance} (text / constraints), style "
        f"edits keep the contact {sampling['style_contacts']}. Content kept by a style edit: *root path* is the pelvis "
        "floor path's largest distance to the source's, mean over edits; *contacts agree* the share of (frame, foot) "
        "contact states equal to the source's (KIMODO's contact heuristic).",
        "",
        editing_tables(r),
    ])


BLOCKS = {
    "dataset-stats": dataset_block,
    "benchmarks": benchmarks_block,
    "prompt-checks": prompt_checks_block,
    "generate-speed": generate_speed_block,
    "constraint-benchmark": constraint_benchmark_block,
    "constraint-examples": constraint_examples_block,
    "eval-t2m": eval_t2m_block,
    "eval-quality": eval_quality_block,
    "eval-inbetween": eval_inbetween_block,
    "smog-ablation": smog_ablation_block,
    "viewer-fps": viewer_fps_block,
    "retarget-quality": retarget_quality_block,
    "style-classifier": style_classifier_block,
    "editing": editing_block,
    "gifs": gifs_block,
}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    rendered = render(text)
    if args.check:
        if rendered != text:
            print("README.md tables differ from benchmarks/results/*.json: run scripts/render_readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
