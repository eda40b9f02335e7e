"""Weight sharing and the README's demo."""

import json

import numpy as np
import pytest

from hw.config import SpMVConfig
from sw.cli import main
from sw.share import ShareError, fixed_point_codebook, kmeans_centroids, share_layer


def test_kmeans_finds_separated_clusters():
    values = np.concatenate([np.full(50, -1.0), np.full(50, 0.5), np.full(50, 2.0)])
    centroids = kmeans_centroids(values, 3)
    assert np.allclose(centroids, [-1.0, 0.5, 2.0])


def test_shared_layer_keeps_zeros_and_uses_at_most_15_values():
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.1, (30, 20)) * (rng.random((30, 20)) < 0.3)
    codes, book = share_layer(weights, SpMVConfig())
    assert np.array_equal(codes == 0, weights == 0)
    assert codes.max() <= 15 and len(book) == 15


def test_codebook_saturates_to_its_width():
    config = SpMVConfig(codebook_width=4, codebook_frac=2)
    assert fixed_point_codebook([10.0, -10.0, 0.26], config).tolist() == [7, -8, 1]


def test_kmeans_rejects_empty_input():
    with pytest.raises(ShareError, match=r"no nonzero weights to cluster"):
        kmeans_centroids([])


def test_kmeans_rejects_nan():
    with pytest.raises(ShareError, match=r"weights contain NaN or infinite values"):
        kmeans_centroids([1.0, np.nan])


def test_kmeans_rejects_more_than_15_clusters():
    with pytest.raises(ShareError, match=r"count must be from 1 to 15 .* not 16"):
        kmeans_centroids([1.0, 2.0], 16)


@pytest.mark.icarus
def test_demo_matches_golden(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert summary["outputs_matching_golden"] == summary["outputs"] == 256
    assert summary["efficiency"] > 0.9
    assert "module spmv_engine" in (tmp_path / "spmv.v").read_text()
