"""``asrhw experiment darkside``: the project's headline experiment."""

from pathlib import Path


def register(top, groups):
    """Add ``experiment darkside``."""
    from hw.config import ViterbiConfig

    experiment = top.add_parser("experiment", help="run an experiment and write JSON + PNG",
                                description="Experiments behind the project's figures.")
    kinds = experiment.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    darkside = kinds.add_parser(
        "darkside", help="pruning inflates the search; a bounded table keeps it flat",
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
    darkside.add_argument("--golden-table-caps", metavar="ENTRIES=N,...",
                          help="tables of at least ENTRIES run on at most N of the golden "
                               "utterances (4096=100): big tables are slow to model")
    darkside.add_argument("--golden-modes", metavar="MODE,...",
                          help="scale modes the golden decoder runs in (fixed,tuned), or "
                               "'none' for Kaldi and the float decoder only")
    darkside.add_argument("--tasks", metavar="TASK,...",
                          help="tasks in the order they run (words,digits)")
    darkside.add_argument("--sparsities", metavar="S,...", help="model sparsities (0,0.5,0.9)")
    darkside.add_argument("--tables", metavar="ENTRIES,...",
                          help="golden table sizes in entries (16,64,256)")
    darkside.add_argument("--scales", metavar="S,...",
                          help="acoustic scales of the dev-set tuning grid")
    darkside.add_argument("--penalties", metavar="P,...",
                          help="word insertion penalties (>= 0) of the tuning grid")
    darkside.add_argument("--tune-decoder", choices=("float", "kaldi"),
                          help="decoder that scores the tuning grid (default float); kaldi is "
                               "3-5x faster and chooses the same point")
    darkside.add_argument("--hash", choices=ViterbiConfig.HASHES,
                          help="set hash of the golden tables (default xor_fold); on the "
                               "words task multiplicative drops far fewer hypotheses")
    darkside.add_argument("--trace-depth", type=int,
                          help="golden word-trace entries (default: as in ViterbiConfig)")
    darkside.set_defaults(func=run_darkside)

    ablation = kinds.add_parser(
        "ablation", help="golden vs float decoder, one hardware setting changed at a time",
        description="Decode test utterances of one task and model with the float decoder and "
                    "with the golden hardware decoder of a darkside table, then change one "
                    "setting at a time (cost width and fraction, epsilon passes, hash, ways, "
                    "entries, a table that never evicts, a wider beam) and report WER, "
                    "utterances equal to the float decoder's, drops and flags per variant. "
                    "Writes DIR/ablation_<task>_<sparsity>.json.")
    ablation.add_argument("--out", type=Path, required=True, help="output directory")
    ablation.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    ablation.add_argument("--models", type=Path, required=True, help="pipeline directory")
    ablation.add_argument("--task", choices=("digits", "words"), default="digits")
    ablation.add_argument("--sparsity", type=float, default=0.9, help="model sparsity")
    ablation.add_argument("--utterances", type=int, default=100, help="test utterances")
    ablation.add_argument("--tables", default="16,64", metavar="ENTRIES,...",
                          help="darkside table sizes (4 ways) to study")
    ablation.add_argument("--scale", type=float, required=True, help="acoustic scale")
    ablation.add_argument("--penalty", type=float, default=0.0, help="word insertion penalty")
    ablation.add_argument("--trace-depth", type=int, default=4096,
                          help="word-trace entries of every variant (an overflow loses words)")
    ablation.add_argument("--variant", action="append", metavar="NAME",
                          help="run only this variant (repeatable; names as printed, e.g. "
                               "'darkside', 'multiplicative hash'); default: all")
    ablation.set_defaults(func=run_ablation)


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
        if args.golden_table_caps is not None:
            caps = _counts(args.golden_table_caps)
            if isinstance(caps, int):
                raise ValueError(f"--golden-table-caps takes ENTRIES=N pairs, not "
                                 f"{args.golden_table_caps!r}")
            changes["golden_table_caps"] = tuple((int(entries), count) for entries, count in caps)
        if args.golden_modes is not None:
            changes["golden_modes"] = (() if args.golden_modes == "none"
                                       else tuple(args.golden_modes.split(",")))
        if args.tasks is not None:
            changes["tasks"] = tuple(args.tasks.split(","))
        if args.sparsities is not None:
            changes["sparsities"] = tuple(float(x) for x in args.sparsities.split(","))
        if args.tables is not None:
            changes["table_entries"] = tuple(int(x) for x in args.tables.split(","))
        if args.scales is not None:
            changes["scales"] = tuple(float(x) for x in args.scales.split(","))
        if args.penalties is not None:
            changes["penalties"] = tuple(float(x) for x in args.penalties.split(","))
        if args.trace_depth is not None:
            changes["trace_depth"] = args.trace_depth
        if args.hash is not None:
            changes["hash"] = args.hash
        if args.tune_decoder is not None:
            changes["tune_decoder"] = args.tune_decoder
        settings = dataclasses.replace(settings, **changes)
    except ValueError as error:
        raise CommandError(f"darkside settings: {error}") from error
    report = run_darkside(args.out, settings=settings, corpus=args.corpus, models=args.models)
    print(json.dumps(report["summary"], indent=1))
    print(f"report written to {args.out / 'darkside.json'} and {args.out / 'darkside.png'}")
    return 0


def run_ablation(args) -> int:
    """Run :func:`sw.experiments.agreement.ablation` per table size; print and save it."""
    import json

    from sw.cli import CommandError
    from sw.experiments.agreement import ablation, hardware_variants
    from sw.experiments.darkside import DarksideSettings, scored_test_set
    from sw.experiments.tasks import task_graph

    for name in ("corpus", "models"):
        if not getattr(args, name).is_dir():
            raise CommandError(f"--{name} {getattr(args, name)} is not a directory")
    if args.utterances < 1:
        raise CommandError(f"--utterances must be at least 1, not {args.utterances}")
    try:
        tables = [int(x) for x in args.tables.split(",")]
    except ValueError as error:
        raise CommandError(f"--tables must be integers: {error}") from error
    graph, source = task_graph(args.task, corpus=args.corpus)
    chosen = {entries: hardware_variants(graph, entries) for entries in tables}
    if args.variant:
        for entries, variants in chosen.items():
            unknown = [name for name in args.variant if name not in variants]
            if unknown:
                raise CommandError(f"--variant {unknown[0]!r} is not a variant of the "
                                   f"{entries}-entry table; choose from {sorted(variants)}")
            chosen[entries] = {name: variants[name] for name in args.variant}
    settings = DarksideSettings(tasks=(args.task,), utterances=args.utterances,
                                dev_utterances=0)
    scored, scores = scored_test_set(graph, args.task, args.sparsity, settings, args.corpus,
                                 args.models)
    report = {"task": args.task, "sparsity": args.sparsity, "graph": source, "scores": scores,
              "tables": {}}
    for entries in tables:
        result = ablation(graph, scored, acoustic_scale=args.scale, word_penalty=args.penalty,
                          base={"sets": max(1, entries // 4), "ways": min(4, entries),
                                "trace_depth": args.trace_depth},
                          variants=chosen[entries], progress=True)
        report["tables"][str(entries)] = result
        print(f"table {entries}: float WER {100 * result['float']['wer']:.2f} %")
        for name, row in result["variants"].items():
            print(f"  {name:32s} WER {100 * row['wer']:6.2f} %  same as float "
                  f"{row['same_words_as_float']}/{result['utterances']}  drops {row['drops']}"
                  f"  no final {row['final_not_reached']}  trace overflows "
                  f"{row['trace_overflows']}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"ablation_{args.task}_{int(round(args.sparsity * 100))}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"report written to {path}")
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
