"""Text encoders: sanitising, MiniLM embeddings, the disk cache, CLIP/LLM2Vec loading, the registry.

MiniLM runs the real packaged model. CLIP and LLM2Vec run their real loading and pooling code on
tiny randomly initialised models built here with transformers and saved to temporary folders
(the real weights are gigabytes and not available offline).
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from motiongen.errors import DataNotFoundError, InputError, UnknownNameError
from motiongen.text import (
    CachedTextEncoder,
    CLIPTextEncoder,
    EmbeddingCache,
    LLM2VecEncoder,
    MiniLMEncoder,
    TextEncoder,
    load_text_encoder,
    sanitize_text,
)
from motiongen.text.base import offline_quiet

REPO = Path(__file__).resolve().parents[1]


# --- sanitising ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a person walks forward", "A person walks forward."),
        ("  ...a person   walks\tforward  ;; ", "A person walks forward."),
        ("walks. then sits! waves? ok", "Walks. Then sits! Waves? Ok."),
        ('he says "hi"', 'He says "hi".'),
        ("jumps (twice)", "Jumps (twice)."),
        ("A person walks in a CIRCLE", "A person walks in a CIRCLE."),
        ("", ""),
        ("   ", ""),
        ("...!?", ""),
    ],
)
def test_sanitize_examples(raw: str, clean: str) -> None:
    assert sanitize_text(raw) == clean


def test_sanitize_lower_matches_kimodo_capitalize() -> None:
    # KIMODO's str.capitalize lower-cases the rest; only with lower=True
    assert sanitize_text("A person walks in a CIRCLE", lower=True) == "A person walks in a circle."
    assert sanitize_text("a Person. then JUMPS", lower=True) == "A person. Then jumps."


@given(st.text(alphabet=string.ascii_letters + string.digits + " .,!?;:'\"()[]-\t\n", max_size=60))
def test_sanitize_is_a_fixed_point(raw: str) -> None:
    once = sanitize_text(raw)
    assert sanitize_text(once) == once
    if once:
        assert once[-1] in ".!?" and once[0].isalnum() and once == once.strip() and "  " not in once


def test_sanitize_refuses_non_strings() -> None:
    with pytest.raises(InputError, match="string"):
        sanitize_text(None)  # type: ignore[arg-type]


# --- MiniLM --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return MiniLMEncoder()


class CountingEncoder:
    """A real encoder that records what it was asked to encode (to see cache hits and misses)."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner
        self.identifier = inner.identifier
        self.dim = inner.dim
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return self.inner.encode(texts)


SENTENCES = ["a person walks forward.", "someone is walking ahead.", "a person waves the right hand."]


def test_minilm_unit_vectors_and_similarity(minilm: MiniLMEncoder) -> None:
    emb = minilm.encode(SENTENCES)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sim = emb @ emb.T
    # paraphrases are closer to each other than to an unrelated action
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[1, 2] + 0.2
    assert isinstance(minilm, TextEncoder) and minilm.identifier == "minilm:all-MiniLM-L6-v2"


def test_minilm_deterministic_batch_independent_and_empty_is_zero(minilm: MiniLMEncoder) -> None:
    batch = minilm.encode(["", *SENTENCES, "   "])
    again = minilm.encode(SENTENCES)
    single = minilm.encode([SENTENCES[1]])
    np.testing.assert_array_equal(batch[1:4], again)
    np.testing.assert_allclose(single[0], again[1], atol=1e-5)
    assert not batch[0].any() and not batch[4].any()
    # captions are sanitised first: these two are the same caption
    np.testing.assert_array_equal(*minilm.encode(["  a person walks forward ", "A person walks forward."]))
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(InputError, match="single string"):
        minilm.encode("a person walks")  # type: ignore[arg-type]


def test_minilm_model_loaded_once_per_process_env_restored(minilm: MiniLMEncoder, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    other = MiniLMEncoder()
    assert not other.loaded
    other.encode(["a person jumps."])
    minilm.encode(["a person jumps."])
    assert other._model is minilm._model
    import huggingface_hub.constants as hub

    before = hub.HF_HUB_OFFLINE
    with offline_quiet():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and hub.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"
    assert hub.HF_HUB_OFFLINE == before


def test_minilm_bad_device() -> None:
    with pytest.raises(InputError, match="device"):
        MiniLMEncoder(device="tpu:7")


# --- cache ---------------------------------------------------------------------------------------


def test_cache_hits_without_encoding_or_loading(minilm: MiniLMEncoder, tmp_path: Path) -> None:
    counting = CountingEncoder(minilm)
    cached = CachedTextEncoder(counting, tmp_path)
    texts = [*SENTENCES, SENTENCES[0], "", "A person walks forward"]
    first = cached.encode(texts)
    # duplicates (also after sanitising) and the empty caption are not encoded; each caption on its own
    assert counting.calls == [["A person walks forward."], ["Someone is walking ahead."], ["A person waves the right hand."]]
    np.testing.assert_array_equal(first[:3], np.concatenate([minilm.encode([s]) for s in SENTENCES]))
    assert not first[4].any()

    fresh = MiniLMEncoder()
    counting2 = CountingEncoder(fresh)
    second = CachedTextEncoder(counting2, tmp_path).encode(texts)
    np.testing.assert_array_equal(second, first)
    assert counting2.calls == [] and not fresh.loaded

    # only the new caption is encoded
    third = CachedTextEncoder(counting2, tmp_path).encode(["a person sits down.", SENTENCES[2]])
    assert counting2.calls == [["A person sits down."]]
    np.testing.assert_array_equal(third[1], first[2])


def test_cached_embedding_does_not_depend_on_batch_mates(minilm: MiniLMEncoder, tmp_path: Path) -> None:
    """A caption first encoded among others gets the vector it gets alone, so what a cache holds does
    not depend on the order in which captions arrived."""
    long = "A person walks forward slowly, then turns around and waves with both hands above the head."
    together = CachedTextEncoder(minilm, tmp_path / "a").encode([SENTENCES[0], long])
    alone = CachedTextEncoder(minilm, tmp_path / "b").encode([SENTENCES[0]])
    np.testing.assert_array_equal(together[0], alone[0])


def test_cache_layout_and_corrupt_entry(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    vec = np.arange(4, dtype=np.float32)
    path = cache.put("clip:model@abc", "A person walks.", vec)
    assert path.parent.parent.parent == tmp_path and path.name.endswith(".npy") and len(path.stem) == 64
    assert (path.parent.parent / "IDENTIFIER").read_text().strip() == "clip:model@abc"
    np.testing.assert_array_equal(cache.get("clip:model@abc", "A person walks."), vec)
    assert cache.get("clip:model@abd", "A person walks.") is None  # other encoder, other folder
    assert cache.get("clip:model@abc", "A person walks.", dim=5) is None  # wrong size: a miss
    path.write_bytes(b"\x93NUMPY truncated")
    assert cache.get("clip:model@abc", "A person walks.") is None
    assert not list(tmp_path.rglob(".tmp-*"))


def test_unwritable_cache_still_encodes(minilm: MiniLMEncoder, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cached = CachedTextEncoder(minilm, blocker / "text")
    with pytest.warns(UserWarning, match="not writable"):
        out = cached.encode(SENTENCES[:1])
    np.testing.assert_array_equal(out, minilm.encode(SENTENCES[:1]))


_WRITER = """
import sys, time
import numpy as np
from motiongen.text.base import EmbeddingCache
cache = EmbeddingCache(sys.argv[1]); value = float(sys.argv[2]); start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.005)
for rep in range(3):
    for i in range(150):
        cache.put("minilm:test", f"caption {i}.", np.full(384, value, dtype=np.float32))
"""


def test_concurrent_writers_leave_complete_entries(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.time() + 0.6
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(v), str(start)], env=env)
        for v in (1.0, 2.0)
    ]
    bad: list[object] = []
    seen: set[int] = set()

    def read() -> None:
        # while both write: an entry is absent until it appears, then always one writer's complete
        # vector (a file rewritten in place would read as truncated now and then)
        while any(p.poll() is None for p in procs):
            for i in range(0, 150, 3):
                vec = cache.get("minilm:test", f"caption {i}.")
                if vec is None:
                    if i in seen:
                        bad.append(i)
                elif vec.shape == (384,) and (np.all(vec == 1.0) or np.all(vec == 2.0)):
                    seen.add(i)
                else:
                    bad.append(vec)

    reader = threading.Thread(target=read)
    reader.start()
    codes = [p.wait(timeout=60) for p in procs]
    reader.join()
    assert codes == [0, 0] and not bad and seen
    for i in range(150):
        vec = cache.get("minilm:test", f"caption {i}.")
        assert vec is not None and (np.all(vec == 1.0) or np.all(vec == 2.0))
    assert not list(tmp_path.rglob(".tmp-*"))


# --- tiny CLIP and LLM2Vec folders ---------------------------------------------------------------


def make_clip_folder(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer CLIP text tower with a character-level BPE vocabulary."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    folder.mkdir(parents=True)
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + string.digits + ".,!?'":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=16,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    torch.manual_seed(seed)
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    return folder


WORDS = "<unk> <s> </s> a person walks forward someone is walking ahead waves the right hand sits down . , ! ?".split()


def make_llama_folder(folder: Path, seed: int = 0, name_or_path: str | None = None) -> Path:
    """A randomly initialised 2-layer Llama with a word-level tokenizer that adds BOS like Llama-3's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    LlamaModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    if name_or_path is not None:  # as the LLM2Vec MNTP config.json records its base model
        cfg = json.loads((folder / "config.json").read_text())
        cfg["_name_or_path"] = name_or_path
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip_folder(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_llama_folder(tmp_path_factory.mktemp("llm") / "tiny-llm2vec")


def test_clip_encoder_loads_and_pools(clip_dir: Path, tmp_path: Path) -> None:
    enc = CLIPTextEncoder(clip_dir)
    assert enc.dim == 16 and enc.identifier.startswith("clip:tiny-clip@")
    emb = enc.encode(["a person walks forward.", "", "someone is walking ahead, then waves the right hand."])
    assert emb.shape == (3, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not emb[1].any()
    # padding in a batch does not change a caption's embedding
    np.testing.assert_allclose(enc.encode(["a person walks forward."])[0], emb[0], atol=1e-5)
    # the result is CLIP's own projected pooled output
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    model = CLIPTextModelWithProjection.from_pretrained(clip_dir).eval()
    ids = CLIPTokenizer.from_pretrained(clip_dir)(["A person walks forward."], return_tensors="pt")
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model(**ids).text_embeds, dim=-1)[0].numpy()
    np.testing.assert_allclose(emb[0], ref, atol=1e-5)
    # identifiers tell models and options apart
    assert CLIPTextEncoder(clip_dir).identifier == enc.identifier
    assert CLIPTextEncoder(clip_dir, normalize=False).identifier != enc.identifier
    other = make_clip_folder(tmp_path / "tiny-clip", seed=1)
    assert CLIPTextEncoder(other).identifier != enc.identifier


def test_llm2vec_bidirectional_mean_over_text_tokens(llama_dir: Path) -> None:
    enc = LLM2VecEncoder(llama_dir)
    assert enc.dim == 32 and enc.identifier.startswith("llm2vec:tiny-llm2vec@") and not enc.chat_template
    texts = ["a person walks forward.", "someone is walking ahead, then waves the right hand.", ""]
    emb = enc.encode(texts)
    assert emb.shape == (3, 32) and emb.dtype == np.float32 and not emb[2].any()
    # left padding and batch composition do not change an embedding
    np.testing.assert_allclose(enc.encode(texts[:1])[0], emb[0], atol=1e-5)

    tokenizer, model = enc._model
    assert tokenizer.padding_side == "left" and tokenizer.pad_token == "</s>"
    ids = tokenizer(["A person walks forward."], return_tensors="pt")["input_ids"]
    assert ids[0, 0].item() == 1  # BOS, which the pooling skips
    with torch.no_grad():
        hidden = model(input_ids=ids).last_hidden_state[0]
    np.testing.assert_allclose(emb[0], hidden[1:].mean(dim=0).numpy(), atol=1e-5)

    # bidirectional: the first word's state depends on the last word, unlike in the causal model
    from transformers import LlamaModel

    causal = LlamaModel.from_pretrained(llama_dir).eval()
    ids2 = tokenizer(["A person walks ahead."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        bi = [model(input_ids=i).last_hidden_state[0, 1] for i in (ids, ids2)]
        ca = [causal(input_ids=i).last_hidden_state[0, 1] for i in (ids, ids2)]
    assert not torch.allclose(bi[0], bi[1], atol=1e-4)
    assert torch.allclose(ca[0], ca[1], atol=1e-6)


def test_llm2vec_instruction_and_chat_template(tmp_path: Path) -> None:
    folder = make_llama_folder(tmp_path / "mntp", name_or_path="meta-llama/Meta-Llama-3-8B-Instruct")
    enc = LLM2VecEncoder(folder)
    assert enc.chat_template  # decided from config.json as llm2vec does for a local folder
    assert enc.split_text("A person sits.") == (
        "<|start_header_id|>user<|end_header_id|>\n\n",
        "A person sits.<|eot_id|>",
    )
    plain = LLM2VecEncoder(folder, chat_template=False)
    inst = LLM2VecEncoder(folder, chat_template=False, instruction="someone")
    assert len({enc.identifier, plain.identifier, inst.identifier}) == 3
    assert inst.split_text("A person sits.") == ("someone ", "A person sits.")
    a, b = plain.encode(["a person sits down."])[0], inst.encode(["a person sits down."])[0]
    # the instruction is read by the model (bidirectional) but not pooled
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-4)
    assert enc.encode(["a person sits down."]).shape == (1, 32)


@pytest.mark.parametrize("cls", [CLIPTextEncoder, LLM2VecEncoder])
def test_missing_or_empty_folder_names_the_path(cls, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError, match=str(missing)):
        cls(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFoundError, match=rf"{empty}.*config\.json"):
        cls(empty)


def test_wrong_model_kind_and_options(clip_dir: Path, llama_dir: Path) -> None:
    with pytest.raises(InputError, match="model_type") as info:
        LLM2VecEncoder(clip_dir)
    assert info.value.field == "model_type"
    with pytest.raises(InputError, match="model_type"):
        CLIPTextEncoder(llama_dir)
    with pytest.raises(InputError, match="CUDA") as info:
        LLM2VecEncoder(llama_dir, load_in_8bit=True)
    assert info.value.field == "load_in_8bit"
    with pytest.raises(InputError, match="dtype"):
        LLM2VecEncoder(llama_dir, dtype="int3")


# --- registry ------------------------------------------------------------------------------------


def test_registry_specs(clip_dir: Path, llama_dir: Path, tmp_path: Path) -> None:
    enc = load_text_encoder("minilm", cache_dir=tmp_path)
    assert isinstance(enc, CachedTextEncoder) and isinstance(enc.encoder, MiniLMEncoder)
    assert enc.cache.folder == tmp_path and enc.spec == {"type": "minilm"}
    assert isinstance(load_text_encoder("minilm:all-MiniLM-L6-v2", cache_dir=False), MiniLMEncoder)

    clip = load_text_encoder(f"clip:{clip_dir}", cache_dir=False)
    assert isinstance(clip, CLIPTextEncoder) and clip.path == clip_dir
    llm = load_text_encoder({"type": "llm2vec", "path": llama_dir.name, "max_length": 64}, False, root=llama_dir.parent)
    assert isinstance(llm, LLM2VecEncoder) and llm.path == llama_dir and llm.max_length == 64
    # a spec gives back an equal encoder
    again = load_text_encoder(llm.spec, cache_dir=False)
    assert again.identifier == llm.identifier
    assert load_text_encoder(clip.spec, cache_dir=False).identifier == clip.identifier

    with pytest.raises(UnknownNameError, match="minilm, clip:PATH, llm2vec:PATH"):
        load_text_encoder("bert")
    with pytest.raises(UnknownNameError, match="t5"):
        load_text_encoder({"type": "t5"})
    with pytest.raises(InputError, match="needs a model folder"):
        load_text_encoder("clip:")
    with pytest.raises(InputError) as info:
        load_text_encoder({"type": "clip", "path": str(clip_dir), "colour": "red"})
    assert info.value.field == "colour"
    with pytest.raises(InputError, match="path"):
        load_text_encoder({"type": "llm2vec"})
    with pytest.raises(DataNotFoundError, match="nowhere"):
        load_text_encoder(f"llm2vec:{tmp_path / 'nowhere'}")


def test_default_cache_dir_follows_motiongen_cache(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path))
    enc = load_text_encoder()
    assert isinstance(enc, CachedTextEncoder) and enc.cache.folder == tmp_path / "text"
