"""KIMODO bundle, pipeline and output on a tiny *untrained* bundle built from real clips.

The bundle is real end to end: a randomly initialised TwoStageDenoiser with tiny sizes, feature
statistics of two CMU clips retargeted onto smplx22, the smplx22 skeleton and the MiniLM text
encoder, saved with ``save_pretrained`` and loaded back by path. Only the motion quality is
meaningless (untrained weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.errors import DataNotFoundError, InputError, UnknownNameError
from motiongen.io.bvh import read_bvh
from motiongen.io.kimodo_npz import KIMODO_NPZ_KEYS, read_kimodo_npz
from motiongen.motion.kimodo_features import FeatureStats, KimodoFeatures
from motiongen.pipelines import bundle as bundle_module
from motiongen.pipelines.bundle import KIMODOBundle, resolve_model
from motiongen.pipelines.kimodo import KIMODOPipeline, resolve_cfg
from motiongen.pipelines.output import MotionOutput

CMU_ASF = "Rotations/asf/02.asf"
CMU_CLIPS = ("Rotations/Training/02_01 - walk.amc", "Rotations/Training/02_03 - run.amc")
TINY = dict(width=32, layers=1, heads=2, ff=64, max_frames=64)
BUNDLE_FILES = (
    "model_index.json",
    "denoiser/config.json",
    "denoiser/model.safetensors",
    "scheduler/config.json",
    "skeleton.json",
    "stats/feature_stats.npz",
    "README.md",
)


def make_tiny_bundle(out_dir: Path, data_dir: Path, cache_dir: Path, **sizes) -> Path:
    """Save a tiny random-weight smplx22 bundle to ``out_dir`` (reused if already there)."""
    if (out_dir / "model_index.json").is_file():
        return out_dir
    from motiongen.data.archives import unpacked
    from motiongen.io.asf_amc import read_amc, read_asf
    from motiongen.models.kimodo.config import KimodoDenoiserConfig
    from motiongen.retarget.registered import retarget_to

    cmu = unpacked("cmu", data_dir, cache_dir) / "cmu"
    rig = read_asf(cmu / CMU_ASF)
    motions = [
        retarget_to(read_amc(cmu / clip, rig).resample(30.0), "smplx22", data_dir=data_dir, cache_dir=cache_dir)
        for clip in CMU_CLIPS
    ]
    skeleton = motions[0].skeleton
    features = KimodoFeatures(skeleton)
    stats = FeatureStats.compute(features.encode_batch(motions))
    config = KimodoDenoiserConfig(feature_dim=features.dim, num_joints=skeleton.num_joints, **{**TINY, **sizes})
    torch.manual_seed(0)
    bundle = KIMODOBundle.create(config, stats, skeleton, text_encoder_spec={"type": "minilm"}, info={"note": "untrained"})
    return bundle.save_pretrained(out_dir)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> Path:
    return make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle", data_dir, cache_dir)


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "text_cache"


@pytest.fixture(scope="module")
def pipe(tiny_bundle: Path, text_cache: Path) -> KIMODOPipeline:
    return KIMODOPipeline.from_pretrained(tiny_bundle, device="cpu", text_cache_dir=text_cache)


# --------------------------------------------------------------------------------------------------
# bundle
def test_bundle_files_and_roundtrip(tiny_bundle: Path, tmp_path: Path) -> None:
    for name in BUNDLE_FILES:
        assert (tiny_bundle / name).is_file(), name
    index = json.loads((tiny_bundle / "model_index.json").read_text())
    assert index["text_encoder"] == {"type": "minilm"} and index["feature_dim"] == 273
    assert "untrained" in (tiny_bundle / "README.md").read_text()
    bundle = KIMODOBundle.from_pretrained(tiny_bundle, device="cpu")
    assert bundle.skeleton.name == "smplx22" and bundle.skeleton.num_joints == 22
    assert bundle.features.dim == 273 and bundle.max_frames == 64 and bundle.fps == 30.0
    assert bundle.schedule.num_train_steps == 1000 and bundle.info["note"] == "untrained"

    # save again (fp16): a complete folder, half the weight bytes, the same weights to fp16 precision
    again = bundle.save_pretrained(tmp_path / "copy", weights_dtype="float16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]  # no temporary folders left
    size32 = (tiny_bundle / "denoiser/model.safetensors").stat().st_size
    size16 = (again / "denoiser/model.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    loaded = KIMODOBundle.from_pretrained(again)
    for key, value in bundle.denoiser.state_dict().items():
        other = loaded.denoiser.state_dict()[key]
        assert other.dtype == torch.float32
        torch.testing.assert_close(other, value, atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose(loaded.stats.body_std, bundle.stats.body_std)

    # overwriting a bundle replaces it whole; a foreign non-empty folder is refused
    bundle.save_pretrained(again)
    assert (again / "denoiser/model.safetensors").stat().st_size == size32
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not a KIMODO bundle"):
        bundle.save_pretrained(foreign)
    assert (foreign / "keep.txt").is_file()


def test_bundle_errors(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the shipped name: a clear "not installed" until its folder exists, then that folder
    monkeypatch.setattr(bundle_module, "models_dir", lambda: tmp_path / "models")
    with pytest.raises(DataNotFoundError, match="'motiongen/kimodo-smplx' is not installed"):
        resolve_model("motiongen/kimodo-smplx")
    KIMODOBundle.from_pretrained(tiny_bundle).save_pretrained(tmp_path / "models" / "kimodo-smplx")
    assert resolve_model("motiongen/kimodo-smplx") == tmp_path / "models" / "kimodo-smplx"
    assert KIMODOBundle.from_pretrained("motiongen/kimodo-smplx").features.dim == 273

    with pytest.raises(UnknownNameError, match="known: motiongen/kimodo-smplx"):
        resolve_model("motiongen/kimodo-giraffe")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="bundle folder"):
        resolve_model(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="model_index.json missing"):
        KIMODOBundle.from_pretrained(tmp_path / "empty")
    # a damaged component names its file
    broken = KIMODOBundle.from_pretrained(tiny_bundle).save_pretrained(tmp_path / "broken")
    (broken / "denoiser/model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="model.safetensors"):
        KIMODOBundle.from_pretrained(broken)
    cfg = json.loads((broken / "denoiser/config.json").read_text())
    (broken / "denoiser/config.json").write_text(json.dumps({**cfg, "wings": 2}))
    with pytest.raises(InputError, match="wings"):
        KIMODOBundle.from_pretrained(broken)


# --------------------------------------------------------------------------------------------------
# pipeline
def test_text_to_motion_shapes_determinism_and_seeds(pipe: KIMODOPipeline) -> None:
    out = pipe.text_to_motion("A person walks forward.", num_frames=40, num_samples=2, seed=7, steps=5)
    assert isinstance(out, MotionOutput) and out.num_samples == 2 and out.num_frames == 40
    assert out.posed_joints.shape == (2, 40, 22, 3) and out.local_rot_mats.shape == (2, 40, 22, 3, 3)
    assert out.global_rot_mats.shape == (2, 40, 22, 3, 3) and out.foot_contacts.dtype == bool
    assert out.smooth_root_pos.shape == (2, 40, 3) and out.global_root_heading.shape == (2, 40, 2)
    assert out.features.shape == (2, 40, 273)
    assert all(np.isfinite(getattr(out, k)).all() for k in KIMODO_NPZ_KEYS if k != "foot_contacts")
    # rotations are proper rotations; the pelvis is joint 0 of the posed joints
    rot = out.global_rot_mats.astype(np.float64)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
    np.testing.assert_allclose(out.posed_joints[:, :, 0], out.root_positions, atol=1e-5)
    assert not np.allclose(out.features[0], out.features[1])  # two samples, two noises
    assert out.info["seed"] == 7 and out.info["steps"] == 5 and out.info["cfg_type"] == "regular"

    again = pipe.text_to_motion("A person walks forward.", num_frames=40, num_samples=2, seed=7, steps=5)
    np.testing.assert_array_equal(again.features, out.features)
    other = pipe.text_to_motion("A person walks forward.", num_frames=40, num_samples=2, seed=8, steps=5)
    assert np.abs(other.features - out.features).max() > 1e-3
    # guidance matters: without it the same noise gives another motion
    plain = pipe.text_to_motion("A person walks forward.", num_frames=40, num_samples=2, seed=7, steps=5, cfg="nocfg")
    assert np.abs(plain.features - out.features).max() > 1e-4
    assert pipe.text_to_motion("Jump.", num_frames=10).info["seed"] >= 0  # a random seed is recorded


def test_root_from_feet_switch_reaches_post_processing(tiny_bundle: Path, text_cache: Path) -> None:
    """On the shipped model's walk (an untrained model plants no feet, so the switch would change nothing)."""
    from motiongen.postprocess import correct_motion

    pipe = KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx", text_cache_dir=text_cache)
    assert pipe.root_from_feet is True
    raw = pipe.text_to_motion("A person walks forward.", num_frames=60, seed=2, steps=5, postprocess=False)
    assert "root_from_feet" not in raw.info
    roots = {}
    for flag in (True, False):
        pipe.root_from_feet = flag
        out = pipe.text_to_motion("A person walks forward.", num_frames=60, seed=2, steps=5)
        assert out.info["root_from_feet"] is flag
        # the motion the output holds is correct_motion of the raw one with the same switch
        decoded = pipe.bundle.features.decode(raw.features.astype(np.float64))
        local, root = correct_motion(decoded["local_rot_mats"][0], decoded["root_positions"][0], pipe.bundle.skeleton,
                                     decoded["foot_contacts"][0], fps=pipe.fps, root_from_feet=flag)
        np.testing.assert_allclose(out.root_positions[0], root, atol=1e-9)
        np.testing.assert_allclose(out.local_rot_mats[0], local, atol=1e-9)
        roots[flag] = out.root_positions[0]
    assert np.abs(roots[True] - roots[False]).max() > 1e-3  # this motion has planted feet that slide
    loaded = KIMODOPipeline.from_pretrained(tiny_bundle, text_cache_dir=text_cache, root_from_feet=False)
    assert loaded.root_from_feet is False


def test_multi_prompt_length_and_seams(pipe: KIMODOPipeline) -> None:
    frames = [30, 25, 20]
    # raw decodes: post-processing works on the whole timeline, so it would couple the segments
    out = pipe.multi_prompt(
        ["A person walks.", "A person jumps.", "A person sits."], frames, seed=3, steps=4, num_samples=2, postprocess=False
    )
    assert out.num_frames == sum(frames) and out.posed_joints.shape == (2, 75, 22, 3)
    assert [s[:2] for s in out.info["segments"]] == [[0, 30], [30, 55], [55, 75]]
    # L = 5 transition frames + 10 % of the previous segment; the blend starts L frames before its end
    assert out.info["transitions"] == [[30 - 8, 30 - 8 + 5], [55 - 7, 55 - 7 + 5]]
    # the first segment is exactly the single-prompt motion with the same seed up to and including
    # the first transition frame (blend weight 1 on the old frame); the next frame differs
    first = pipe.text_to_motion("A person walks.", num_frames=30, seed=3, steps=4, num_samples=2, postprocess=False)
    start = out.info["transitions"][0][0]
    np.testing.assert_array_equal(out.features[:, : start + 1], first.features[:, : start + 1])
    np.testing.assert_allclose(out.posed_joints[:, : start + 1], first.posed_joints[:, : start + 1], atol=1e-6)
    assert np.abs(out.features[:, start + 1] - first.features[:, start + 1]).max() > 1e-4
    again = pipe.multi_prompt(["A person walks.", "A person jumps.", "A person sits."], frames, seed=3, steps=4, num_samples=2)
    np.testing.assert_array_equal(again.features, out.features)
    # each pass generates L + n frames, which must fit the model
    with pytest.raises(InputError, match=r"num_frames_list\[1\].*\[1, 56\]"):
        pipe.multi_prompt(["Walk.", "Run."], [30, 60])
    with pytest.raises(InputError, match="transition needs"):
        pipe.multi_prompt(["Walk.", "Run."], [4, 30])
    with pytest.raises(InputError, match="one per prompt"):
        pipe.multi_prompt(["Walk.", "Run."], [30])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(prompt="   "), "prompt.*empty"),
        (dict(prompt="..."), "prompt.*empty"),
        (dict(num_frames=0), r"num_frames.*\[1, 64\]"),
        (dict(num_frames=65), r"num_frames.*\[1, 64\]"),
        (dict(num_frames=12.5), "num_frames"),
        (dict(num_samples=0), "num_samples"),
        (dict(steps=0), r"steps.*\[1, 1000\]"),
        (dict(seed=-1), "seed"),
        (dict(cfg=("regular", float("nan"))), "finite"),
        (dict(cfg=("loud", 2.0)), "nocfg, regular, separated"),
        (dict(cfg_type="regular", cfg_weight=[1.0, 2.0]), "takes 1 weight"),
        (dict(first_heading=float("inf")), "first_heading"),
    ],
)
def test_text_to_motion_rejects_bad_input(pipe: KIMODOPipeline, kwargs: dict, pattern: str) -> None:
    args = {"prompt": "A person walks.", "num_frames": 20, "steps": 2, **kwargs}
    with pytest.raises(InputError, match=pattern):
        pipe.text_to_motion(**args)


def test_resolve_cfg_rules() -> None:
    assert resolve_cfg() == ("regular", (2.0,))
    assert resolve_cfg(("regular", 3.0)) == ("regular", (3.0,))
    assert resolve_cfg(cfg_weight=[1.5, 2.5]) == ("separated", (1.5, 2.5))  # 2 weights -> separated
    # a type given on its own replaces the default (type, weight) pair, as text_to_motion(cfg_type=...) passes it
    assert resolve_cfg(("regular", 2.0), cfg_type="nocfg") == ("nocfg", ())
    assert resolve_cfg(("regular", 2.0), cfg_type="separated") == ("separated", (2.0, 2.0))
    assert resolve_cfg(("nocfg",)) == ("nocfg", ())
    assert resolve_cfg(cfg_type="separated") == ("separated", (2.0, 2.0))
    assert resolve_cfg(cfg_type="separated", cfg_weight=3) == ("separated", (3.0, 3.0))
    assert resolve_cfg("nocfg") == ("nocfg", ())
    with pytest.raises(InputError, match="takes no weights"):
        resolve_cfg(cfg_type="nocfg", cfg_weight=2.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_an_input_error(tiny_bundle: Path) -> None:
    with pytest.raises(InputError, match="no CUDA GPU"):
        KIMODOPipeline.from_pretrained(tiny_bundle, device="cuda")


# --------------------------------------------------------------------------------------------------
# output
def test_output_save_npz_bvh_and_layouts(pipe: KIMODOPipeline, tmp_path: Path) -> None:
    out = pipe.text_to_motion("A person waves.", num_frames=24, seed=1, steps=3)
    (path,) = out.save(tmp_path / "wave.npz")
    assert path == tmp_path / "wave.npz"
    with np.load(path) as data:
        assert set(KIMODO_NPZ_KEYS) <= set(data.files)
        assert data["posed_joints"].shape == (24, 22, 3) and data["posed_joints"].dtype == np.float32
        assert data["local_rot_mats"].shape == (24, 22, 3, 3) and data["foot_contacts"].dtype == bool
        np.testing.assert_array_equal(data["smooth_root_pos"], out.smooth_root_pos[0])
        np.testing.assert_array_equal(data["global_root_heading"], out.global_root_heading[0])
        assert json.loads(str(data["motiongen_prompts"])) == ["A person waves."]
    motion = read_kimodo_npz(path)
    assert motion.skeleton.name == "smplx22" and motion.num_frames == 24
    np.testing.assert_allclose(motion.joint_positions(), out.posed_joints[0], atol=1e-4)

    (bvh,) = out.save(tmp_path / "wave.bvh")
    back = read_bvh(bvh)
    assert back.skeleton.num_joints == 22 and back.num_frames == 24 and back.fps == pytest.approx(30.0)
    by_name = [back.skeleton.index(n) for n in out.skeleton.joint_names]
    np.testing.assert_allclose(back.joint_positions()[:, by_name], out.posed_joints[0], atol=2e-4)

    # several samples: KIMODO's <stem>/<stem>_00.npz; a folder gets .npz and .bvh per sample
    many = pipe.text_to_motion("A person waves.", num_frames=24, num_samples=2, seed=1, steps=3)
    assert many.save(tmp_path / "batch.npz") == [tmp_path / "batch" / "batch_00.npz", tmp_path / "batch" / "batch_01.npz"]
    assert many.save(tmp_path / "folder") == [
        tmp_path / "folder" / name for name in ("sample_00.npz", "sample_00.bvh", "sample_01.npz", "sample_01.bvh")
    ]
    assert read_kimodo_npz(tmp_path / "batch" / "batch_01.npz").num_frames == 24
    assert len(many.motions()) == 2 and many.motions()[1].num_frames == 24

    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match="unsupported output format"):
        out.save(tmp_path / "wave.txt")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        many.save(tmp_path / "plain" / "x.npz")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == sorted(before + [Path("plain")])


def test_top_level_names_of_the_seed_api() -> None:
    import motiongen
    from motiongen.pipelines.bundle import KIMODOBundle as Bundle

    assert motiongen.KIMODOPipeline is KIMODOPipeline and motiongen.KIMODOBundle is Bundle
    with pytest.raises(AttributeError):
        motiongen.NoSuchThing  # noqa: B018


def test_bundle_sampling_recommendation_round_trips_and_sets_the_default_guidance(
    tiny_bundle: Path, text_cache: Path, tmp_path: Path
) -> None:
    bundle = KIMODOBundle.from_pretrained(tiny_bundle)
    assert bundle.sampling == {}
    plain = KIMODOPipeline(bundle, text_cache_dir=text_cache)
    assert plain.default_cfg() == ("regular", 2.0) and plain.default_cfg(constrained=True) == ("separated", (2.0, 2.0))
    bundle.sampling = {"cfg": ["regular", 3.0], "constrained_cfg": ["separated", [2.5, 1.5]]}
    bundle.save_pretrained(tmp_path / "tuned")
    index = json.loads((tmp_path / "tuned" / "model_index.json").read_text())
    assert index["sampling"] == {"cfg": ["regular", 3.0], "constrained_cfg": ["separated", [2.5, 1.5]]}
    card = (tmp_path / "tuned" / "README.md").read_text()
    assert "## Recommended sampling" in card and "- guidance without constraints: regular 3\n" in card
    assert "- guidance with constraints: separated 2.5 / 1.5\n" in card
    plain_bundle = KIMODOBundle.from_pretrained(tmp_path / "tuned")
    plain_bundle.sampling = {}
    plain_bundle.save_pretrained(tmp_path / "plain")  # the section goes with the setting, the rest of the card stays
    plain_card = (tmp_path / "plain" / "README.md").read_text()
    assert "Recommended sampling" not in plain_card and plain_card.strip() == card.split("## Recommended sampling")[0].strip()
    pipe = KIMODOPipeline.from_pretrained(tmp_path / "tuned", text_cache_dir=text_cache)
    out = pipe.text_to_motion("A person walks.", num_frames=12, seed=0, steps=2, postprocess=False)
    assert out.info["cfg_type"] == "regular" and out.info["cfg_weights"] == [3.0]
    out = pipe.text_to_motion("A person walks.", num_frames=12, seed=0, steps=2, postprocess=False, cfg_weight=1.5)
    assert out.info["cfg_weights"] == [1.5]  # a call's own guidance wins
    path = pipe.root2d_constraint([0, 11], [[0.0, 0.0], [0.3, 0.5]])
    out = pipe.constrained_motion("A person walks.", 12, constraints=[path], seed=0, steps=2, postprocess=False)
    assert out.info["cfg_type"] == "separated" and out.info["cfg_weights"] == [2.5, 1.5]
    # a malformed recommendation is refused when the model loads, naming the field
    index["sampling"] = {"cfg": ["regular", "strong"]}
    (tmp_path / "tuned" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match=r"sampling\.cfg"):
        KIMODOBundle.from_pretrained(tmp_path / "tuned")
    index["sampling"] = {"temperature": 0.7}
    (tmp_path / "tuned" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="unknown sampling setting 'temperature'"):
        KIMODOBundle.from_pretrained(tmp_path / "tuned")
