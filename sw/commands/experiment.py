"""``asrhw experiment darkside``: the project's headline experiment."""

import argparse
from pathlib import Path


def register(top, groups):
    """Add ``experiment darkside``."""
    experiment = top.add_parser("experiment", help="run an experiment and write JSON + PNG",
                                description="Experiments behind the project's figures.")
    kinds = experiment.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    darkside = kinds.add_parser(
        "darkside", help="pruning inflates the search; a bounded table keeps it flat",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="For each task and sparsity decode the test set with Kaldi FasterDecoder, "
                    "the float decoder (unbounded max-active) and the golden hardware decoder "
                    "with tables of 16 to 4096 entries, at the dense model's acoustic scale "
                    "(fixed) and at a re-tuned one (tuned). Writes DIR/darkside.json and "
                    "DIR/darkside.png. Without --models the scores are SYNTHETIC (labelled so "
                    "in the report).")
    darkside.add_argument("--out", type=Path, required=True, help="output directory")
    darkside.add_argument("--quick", action="store_true",
                          help="CI-sized run: 3 sparsities, tables up to 256, 12 utterances")
    darkside.add_argument("--corpus", type=Path, help="corpus directory (asrhw corpus)")
    darkside.add_argument("--models", type=Path,
                          help="pipeline directory (asrhw model pipeline) with models/")
    darkside.add_argument("--utterances", type=int, help="test utterances per task")
    darkside.set_defaults(func=run_darkside)


def run_darkside(args) -> int:
    """Run the experiment and print the summary."""
    import dataclasses
    import json

    from sw.cli import CommandError
    from sw.experiments.darkside import DarksideSettings, run_darkside

    for name in ("corpus", "models"):
        path = getattr(args, name)
        if path is not None and not path.is_dir():
            raise CommandError(f"--{name} {path} is not a directory")
    if args.models is not None and args.corpus is None:
        raise CommandError("--models needs --corpus (the models score the corpus's test set)")
    settings = DarksideSettings.quick() if args.quick else DarksideSettings()
    if args.utterances is not None:
        if args.utterances < 1:
            raise CommandError(f"--utterances must be at least 1, not {args.utterances}")
        settings = dataclasses.replace(settings, utterances=args.utterances)
    report = run_darkside(args.out, settings=settings, corpus=args.corpus, models=args.models)
    print(json.dumps(report["summary"], indent=1))
    print(f"report written to {args.out / 'darkside.json'} and {args.out / 'darkside.png'}")
    return 0
