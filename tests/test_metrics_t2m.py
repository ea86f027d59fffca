"""HumanML3D-protocol metrics (motiongen.metrics.t2m) on constructed embeddings with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motiongen.errors import InputError
from motiongen.metrics.t2m import (
    chance_r_precision,
    diversity,
    euclidean_distance_matrix,
    fid,
    frechet_distance,
    matching_score,
    mean_and_interval,
    multimodality,
    r_precision,
)


# --------------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------------
def test_fid_of_a_set_against_itself_is_zero() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))  # correlated dimensions
    scale = np.trace(np.cov(real, rowvar=False))
    assert abs(fid(real, real)) < 1e-6 * scale


def test_fid_separates_same_distribution_from_shifted_one() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(3000, 4))
    same = rng.normal(size=(3000, 4))
    shifted = rng.normal(size=(3000, 4)) + 1.0  # |shift|^2 = 4, covariances equal
    close = fid(real, same)
    far = fid(real, shifted)
    assert 0.0 <= close < 0.05
    assert abs(far - 4.0) < 0.3
    assert far > 50 * close


def test_frechet_distance_matches_closed_form_for_diagonal_covariances() -> None:
    mu1 = np.array([0.5, -1.0, 2.0])
    mu2 = np.array([1.5, 0.0, -1.0])
    var1 = np.array([1.0, 4.0, 0.25])
    var2 = np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(mu1, np.diag(var1), mu1, np.diag(var1)) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_refuses_complex_square_roots_and_bad_shapes() -> None:
    # an "indefinite covariance" makes sqrtm purely imaginary along one axis
    with pytest.raises(InputError) as excinfo:
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    assert "imaginary" in str(excinfo.value)
    with pytest.raises(InputError) as excinfo:
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    assert excinfo.value.field == "sigma1"
    with pytest.raises(InputError) as excinfo:
        fid(np.zeros((10, 3)), np.zeros((10, 4)))
    assert excinfo.value.field == "generated"
    with pytest.raises(InputError) as excinfo:
        fid(np.zeros((1, 3)), np.zeros((10, 3)))
    assert excinfo.value.field == "real"


# --------------------------------------------------------------------------------------------------
# Distances, R-precision, MM-Dist
# --------------------------------------------------------------------------------------------------
def test_euclidean_distance_matrix_matches_pairwise_norms() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(5, 7))
    b = rng.normal(size=(3, 7))
    expected = np.array([[np.linalg.norm(x - y) for y in b] for x in a])
    np.testing.assert_allclose(euclidean_distance_matrix(a, b), expected, rtol=1e-12)
    assert euclidean_distance_matrix(np.zeros((1, 2)), np.array([[3.0, 4.0]]))[0, 0] == 5.0


def test_r_precision_is_perfect_for_matched_distinct_embeddings() -> None:
    emb = np.random.default_rng(3).normal(size=(64, 16))
    np.testing.assert_array_equal(r_precision(emb, emb.copy()), [1.0, 1.0, 1.0])
    assert matching_score(emb, emb.copy()) == 0.0


def test_r_precision_counts_ranks_cumulatively() -> None:
    # 1-D: text i at 10 i, motion i at 10 i + 6. For i >= 1 motion i-1 is nearer (4) than motion i (6),
    # which comes second; for i = 0 motion 0 is nearest. So top-1 = 1/32, top-2 = top-3 = 1.
    text = (10.0 * np.arange(32))[:, None]
    motion = text + 6.0
    np.testing.assert_allclose(r_precision(text, motion), [1 / 32, 1.0, 1.0])
    assert matching_score(text, motion) == pytest.approx(6.0)


def test_r_precision_of_unrelated_pairs_is_at_chance() -> None:
    rng = np.random.default_rng(4)
    n = 32 * 400
    rates = r_precision(rng.normal(size=(n, 8)), rng.normal(size=(n, 8)))
    for rate, chance in zip(rates, chance_r_precision()):
        binomial_std = math.sqrt(chance * (1 - chance) / n)
        assert abs(rate - chance) < 5 * binomial_std, (rates, chance)


def test_r_precision_and_matching_score_drop_the_incomplete_last_batch() -> None:
    rng = np.random.default_rng(5)
    text = rng.normal(size=(70, 4))
    motion = text.copy()
    motion[64:] += 100.0  # the 6 pairs past the last full batch would be misses and far apart
    np.testing.assert_array_equal(r_precision(text, motion), [1.0, 1.0, 1.0])
    assert matching_score(text, motion) == 0.0
    # with a batch size that includes them they count
    assert r_precision(text, motion, batch_size=70)[0] < 1.0
    assert matching_score(text, motion, batch_size=70) == pytest.approx(6 * 200.0 / 70)


def test_r_precision_needs_a_full_batch_and_matching_shapes() -> None:
    emb = np.zeros((31, 4))
    with pytest.raises(InputError) as excinfo:
        r_precision(emb, emb)
    assert excinfo.value.field == "text_emb"
    with pytest.raises(InputError):
        matching_score(emb, emb)
    with pytest.raises(InputError) as excinfo:
        r_precision(np.zeros((32, 4)), np.zeros((32, 5)))
    assert excinfo.value.field == "motion_emb"
    with pytest.raises(InputError) as excinfo:
        r_precision(np.zeros((32, 4)), np.zeros((32, 4)), top_k=33)
    assert excinfo.value.field == "top_k"


def test_chance_r_precision() -> None:
    assert chance_r_precision() == [1 / 32, 2 / 32, 3 / 32]
    assert chance_r_precision(batch_size=10, top_k=2) == [0.1, 0.2]


# --------------------------------------------------------------------------------------------------
# Diversity and multimodality
# --------------------------------------------------------------------------------------------------
def test_diversity_on_orthogonal_points() -> None:
    # distinct points of a scaled identity are all sqrt(2) * 3 apart; a pair drawing the same point twice
    # contributes 0, which happens for about 300 / 1000 pairs in total
    emb = 3.0 * np.eye(1000)
    value = diversity(emb, rng=np.random.default_rng(6))
    full = 3.0 * math.sqrt(2.0)
    assert full * (1 - 5 / 300) <= value <= full
    assert value == diversity(emb, rng=np.random.default_rng(6))  # reproducible from the generator
    assert diversity(np.ones((300, 5)), rng=np.random.default_rng(0)) == 0.0


def test_diversity_draws_each_set_without_replacement() -> None:
    # N == num_pairs: each set is a permutation, so the one outlier appears exactly once in each. Unless it
    # sits at the same position in both sets, exactly two pairs span the distance L: mean 2 L / N.
    n, far = 300, 30.0
    emb = np.zeros((n, 2))
    emb[7] = [far, 0.0]
    values = [diversity(emb, n, rng=np.random.default_rng(seed)) for seed in range(20)]
    for value in values:
        assert value == pytest.approx(2 * far / n) or value == 0.0
    assert sum(value > 0 for value in values) >= 18


def test_diversity_needs_enough_embeddings() -> None:
    with pytest.raises(InputError) as excinfo:
        diversity(np.zeros((299, 4)), rng=np.random.default_rng(0))
    assert excinfo.value.field == "emb"
    assert "300" in str(excinfo.value)


def test_multimodality_on_constructed_repeats() -> None:
    rng = np.random.default_rng(7)
    # identical repeats: nothing varies for a caption, whatever the captions are
    same = np.repeat(rng.normal(size=(20, 1, 6)), 30, axis=1)
    assert multimodality(same, rng=rng) == 0.0
    # every caption's 30 repeats are orthogonal points s apart (s = sqrt(2) * scale); a pair repeats an
    # index with probability 1/30, so the mean is s (1 - E / 500) with E ~ Binomial(500, 1/30)
    captions, repeats, scale = 50, 30, 2.0
    emb = np.repeat(scale * np.eye(repeats)[None], captions, axis=0)
    value = multimodality(emb, rng=rng)
    s = scale * math.sqrt(2.0)
    pairs = captions * 10
    p = 1 / repeats
    expected = s * (1 - p)
    tolerance = s * 5 * math.sqrt(pairs * p * (1 - p)) / pairs
    assert abs(value - expected) < tolerance
    assert value <= s


def test_multimodality_needs_enough_repeats() -> None:
    with pytest.raises(InputError) as excinfo:
        multimodality(np.zeros((5, 9, 3)), rng=np.random.default_rng(0))
    assert excinfo.value.field == "emb"
    with pytest.raises(InputError):
        multimodality(np.zeros((5, 3)), rng=np.random.default_rng(0))


# --------------------------------------------------------------------------------------------------
# Replications
# --------------------------------------------------------------------------------------------------
def test_mean_and_interval_follows_the_protocol_formula() -> None:
    values = [0.5, 0.7, 0.6, 0.9, 0.3]
    out = mean_and_interval(values)
    x = np.array(values)
    std = np.sqrt(np.mean((x - x.mean()) ** 2))  # population std, as Guo's np.std
    assert out["mean"] == pytest.approx(x.mean())
    assert out["std"] == pytest.approx(std)
    assert out["interval"] == pytest.approx(1.96 * std / np.sqrt(len(values)))
    assert out["n"] == 5
    assert out["values"] == values
    assert all(isinstance(v, float) for v in out["values"])
    wider = mean_and_interval(values, confidence=0.99)
    assert wider["interval"] == pytest.approx(2.58 * std / np.sqrt(len(values)))


def test_mean_and_interval_of_one_value_and_bad_input() -> None:
    single = mean_and_interval([2.5])
    assert single == {"mean": 2.5, "std": 0.0, "interval": 0.0, "n": 1, "values": [2.5]}
    with pytest.raises(InputError) as excinfo:
        mean_and_interval([])
    assert excinfo.value.field == "values"
    with pytest.raises(InputError) as excinfo:
        mean_and_interval([1.0, 2.0], confidence=1.5)
    assert excinfo.value.field == "confidence"
