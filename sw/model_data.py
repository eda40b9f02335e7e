"""Labelled frames for the model commands: from the corpus cache, or a synthetic stand-in.

The corpus (``sw.corpus``) provides spliced features and pdf labels per split; the model code
only needs ``(features float32[N, 440], labels int64[N])`` per split and the number of pdfs.
:func:`synthetic_frames` makes data of that shape without espeak-ng (Gaussian mixtures, one per
pdf, with overlapping classes so accuracy is well below 100 %), for tests and smoke runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw.model import ModelError, check_frames

__all__ = ["FrameData", "corpus_frames", "synthetic_frames"]

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True, eq=False)
class FrameData:
    """Labelled frames of the train, dev and test splits.

    Attributes
    ----------
    splits : dict
        ``split -> (features float32[N, input_dim], labels int64[N])``.
    num_pdfs : int
        Number of pdfs (model outputs).
    source : str
        Where the frames came from (shown in reports).
    """

    splits: dict
    num_pdfs: int
    source: str

    def __post_init__(self):
        for split in SPLITS:
            if split not in self.splits:
                raise ModelError(f"frame data lacks the {split!r} split")
            x, y = self.splits[split]
            check_frames(x, y, input_dim=x.shape[1] if np.ndim(x) == 2 else -1,
                         num_pdfs=self.num_pdfs, name=f"{split} features")

    @property
    def input_dim(self) -> int:
        """Values per frame."""
        return int(self.splits["train"][0].shape[1])

    def __getitem__(self, split: str):
        return self.splits[split]

    def sizes(self) -> dict:
        """Frames per split."""
        return {split: int(len(self.splits[split][1])) for split in SPLITS}


def synthetic_frames(*, seed: int = 0, num_pdfs: int = 24, input_dim: int = 440,
                     frames=(12000, 3000, 3000), modes: int = 3, separation: float = 0.22
                     ) -> FrameData:
    """Gaussian-mixture frames: each pdf is a mixture of ``modes`` unit-variance Gaussians whose
    means are ``separation``-scaled standard normals (smaller = harder)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, separation, (num_pdfs, modes, input_dim)).astype(np.float32)
    # unequal class frequencies, like real pdfs (silence dominates)
    weights = rng.dirichlet(np.full(num_pdfs, 2.0))
    splits = {}
    for split, count in zip(SPLITS, frames, strict=True):
        labels = rng.choice(num_pdfs, size=count, p=weights).astype(np.int64)
        mode = rng.integers(0, modes, size=count)
        x = means[labels, mode] + rng.normal(0.0, 1.0, (count, input_dim)).astype(np.float32)
        splits[split] = (x.astype(np.float32), labels)
    return FrameData(splits=splits, num_pdfs=num_pdfs, source=f"synthetic (seed {seed})")


def corpus_frames(corpus_dir, *, quick: bool = False, seed: int = 0, build: bool = True,
                  progress: bool = True) -> FrameData:
    """Frames of both tasks from the corpus cache in ``corpus_dir`` (built first if asked)."""
    try:
        from sw import corpus
    except ImportError as error:
        raise ModelError(f"the corpus module is not available ({error}); use synthetic data "
                         "instead") from None
    corpus_dir = Path(corpus_dir)
    if build:
        corpus.build_corpus(corpus_dir, seed=seed, quick=quick, progress=progress)
    elif not corpus_dir.is_dir():
        raise ModelError(f"corpus directory {corpus_dir} does not exist")
    lexicon = corpus.load_lexicon_of(corpus_dir)
    splits = {split: corpus.load_frames(corpus_dir, corpus.TASKS, split) for split in SPLITS}
    return FrameData(splits=splits, num_pdfs=lexicon.num_pdfs, source=f"corpus {corpus_dir}")
