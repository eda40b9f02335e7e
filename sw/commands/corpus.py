"""``asrhw corpus``: synthesize the espeak-ng corpus of both tasks and print its summary."""

import argparse
from pathlib import Path


def register(top, groups):
    """Add ``corpus``."""
    corpus = top.add_parser(
        "corpus", help="synthesize the digits + words corpus with espeak-ng (cached)",
        description="Synthesize the two tasks with espeak-ng: 'digits' (1-7 of zero..nine, oh) "
                    "and 'words' (template sentences over more than 1,000 words). Train, dev "
                    "and test are split by voice (test voices are never heard in training); "
                    "rate, pitch and 10-20 dB SNR noise vary per utterance. Writes filterbank "
                    "features, frame labels (3 HMM states per phone), transcripts and the "
                    "lexicon to --out, then prints utterances/frames/voices per task and split. "
                    "Re-running with the same arguments reuses the files.")
    corpus.add_argument("--out", type=Path, required=True, default=argparse.SUPPRESS,
                        help="corpus directory")
    corpus.add_argument("--quick", action="store_true",
                        help="small corpus (seconds) for smoke tests and CI")
    corpus.add_argument("--seed", type=int, default=0,
                        help="every random choice (sentences, voices, noise) follows from it")
    corpus.add_argument("--workers", type=int, default=0,
                        help="processes synthesizing in parallel; 0 = 2 unless the corpus fits "
                             "in one shard")
    corpus.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    corpus.set_defaults(func=run_corpus)


def run_corpus(args) -> int:
    """Build (or reuse) the corpus and print its summary."""
    import json
    import time

    from sw.cli import CommandError
    from sw.corpus import CorpusError, build_corpus

    if args.seed < 0:
        raise CommandError(f"--seed must be >= 0, not {args.seed}")
    if not 0 <= args.workers <= 64:
        raise CommandError(f"--workers must be from 0 (auto) to 64, not {args.workers}")
    start, wall_start = time.perf_counter(), time.time()
    try:
        build_corpus(args.out, seed=args.seed, quick=args.quick, progress=not args.no_progress,
                     workers=args.workers or None)
    except CorpusError as error:
        raise CommandError(str(error)) from None
    elapsed = time.perf_counter() - start
    manifest_file = args.out / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    reused = manifest_file.stat().st_mtime < wall_start
    print(f"corpus in {args.out} ({'reused from disk' if reused else f'built in {elapsed:.1f} s'}"
          f", seed {args.seed}{', quick' if args.quick else ''})")
    print(f"{'task/split':<14}{'utterances':>11}{'frames':>10}{'voices':>8}{'noisy':>7}")
    for name, counts in manifest["counts"].items():
        print(f"{name:<14}{counts['utterances']:>11}{counts['frames']:>10}"
              f"{counts['voices']:>8}{counts['noisy']:>7}")
    vocabulary = manifest["vocabulary"]
    print(f"vocabulary: digits {vocabulary['digits']} words, words {vocabulary['words']} words; "
          f"lexicon {manifest['lexicon_words']} words, {manifest['pronunciations']} "
          f"pronunciations")
    print(f"phones: {manifest['phones']} (incl. sil), pdfs: {manifest['num_pdfs']}")
    return 0
