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
    darkside.add_argument("--utterances", metavar="N|TASK=N,...",
                          help="test utterances for every task (N) or per task "
                               "(digits=500,words=150)")
    darkside.add_argument("--dev-utterances", type=int,
                          help="dev utterances per task for tuning the acoustic scale")
    darkside.add_argument("--golden-utterances", metavar="N|TASK=N,...",
                          help="test utterances the golden decoder runs per row, for every "
                               "task (N) or per task (digits=40,words=5)")
    darkside.add_argument("--golden-modes", metavar="MODE,...",
                          help="scale modes the golden decoder runs in (fixed,tuned)")
    darkside.add_argument("--tasks", metavar="TASK,...",
                          help="tasks in the order they run (words,digits)")
    darkside.add_argument("--sparsities", metavar="S,...", help="model sparsities (0,0.5,0.9)")
    darkside.add_argument("--tables", metavar="ENTRIES,...",
                          help="golden table sizes in entries (16,64,256)")
    darkside.add_argument("--trace-depth", type=int,
                          help="golden word-trace entries (default: the ViterbiConfig default)")
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
    changes = {}
    try:
        if args.utterances is not None:
            changes["utterances"] = _counts(args.utterances)
        if args.dev_utterances is not None:
            changes["dev_utterances"] = args.dev_utterances
        if args.golden_utterances is not None:
            changes["golden_utterances"] = _counts(args.golden_utterances)
        if args.golden_modes is not None:
            changes["golden_modes"] = tuple(args.golden_modes.split(","))
        if args.tasks is not None:
            changes["tasks"] = tuple(args.tasks.split(","))
        if args.sparsities is not None:
            changes["sparsities"] = tuple(float(x) for x in args.sparsities.split(","))
        if args.tables is not None:
            changes["table_entries"] = tuple(int(x) for x in args.tables.split(","))
        if args.trace_depth is not None:
            changes["trace_depth"] = args.trace_depth
        settings = dataclasses.replace(settings, **changes)
    except ValueError as error:
        raise CommandError(f"darkside settings: {error}") from error
    report = run_darkside(args.out, settings=settings, corpus=args.corpus, models=args.models)
    print(json.dumps(report["summary"], indent=1))
    print(f"report written to {args.out / 'darkside.json'} and {args.out / 'darkside.png'}")
    return 0


def _counts(text: str):
    """``"20"`` -> 20; ``"digits=40,words=5"`` -> ``(("digits", 40), ("words", 5))``."""
    if "=" not in text:
        return int(text)
    pairs = []
    for item in text.split(","):
        task, _, count = item.partition("=")
        pairs.append((task.strip(), int(count)))
    return tuple(pairs)
