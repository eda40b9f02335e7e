"""Weight sharing: per-layer k-means of the nonzero weights to 15 values (+ zero = 4-bit codes).

The centroids become a fixed-point codebook in the engine's format (``SpMVConfig``'s
``codebook_width`` / ``codebook_frac``), and every nonzero weight is replaced by the code of its
nearest centroid.
"""

import numpy as np

from hw.config import SpMVConfig
from sw.csc import quantize_to_codes

__all__ = [
    "ShareError",
    "fixed_point_codebook",
    "kmeans_centroids",
    "share_layer",
    "shared_centroids",
]


class ShareError(ValueError):
    """Weights cannot be shared as asked; the message says why."""


def kmeans_centroids(values, count: int = 15, *, iterations: int = 30) -> np.ndarray:
    """1-D k-means (linear initialisation, as Han et al. found best) of ``values``."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ShareError("no nonzero weights to cluster")
    if not np.all(np.isfinite(values)):
        raise ShareError("weights contain NaN or infinite values")
    if not 1 <= count <= 15:
        raise ShareError(f"count must be from 1 to 15 (4-bit codes, 0 = zero), not {count}")
    centroids = np.linspace(values.min(), values.max(), count)
    for _ in range(iterations):
        nearest = np.abs(values[:, None] - centroids).argmin(axis=1)
        sums = np.bincount(nearest, weights=values, minlength=count)
        counts = np.bincount(nearest, minlength=count)
        moved = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(moved, centroids):
            break
        centroids = moved
    return np.sort(centroids)


def fixed_point_codebook(centroids, config: SpMVConfig) -> np.ndarray:
    """Centroids rounded to the engine's codebook fixed point, saturated to its width."""
    scaled = np.round(np.asarray(centroids) * (1 << config.codebook_frac))
    low, high = config.codebook_range
    return np.clip(scaled, low, high).astype(np.int64)


def share_layer(weights, config: SpMVConfig) -> tuple[np.ndarray, np.ndarray]:
    """Codes (``int64[rows, cols]``, 0 where the weight is zero) and the fixed-point codebook
    of codes 1..15 for a pruned float weight matrix."""
    weights = np.asarray(weights, dtype=np.float64)
    centroids = kmeans_centroids(weights[weights != 0])
    book = fixed_point_codebook(centroids, config)
    codes = quantize_to_codes(weights, centroids)
    return codes, book


def shared_centroids(weights, count: int = 15) -> np.ndarray:
    """Shared values for the nonzero ``weights``: the distinct values themselves when there are
    at most ``count`` (so sharing a layer twice changes nothing), otherwise their k-means
    centroids."""
    values = np.asarray(weights, dtype=np.float64)
    values = values[values != 0]
    distinct = np.unique(values)
    if 0 < distinct.size <= count and np.all(np.isfinite(distinct)):
        return distinct
    return kmeans_centroids(values, count)
