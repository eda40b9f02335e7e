"""``asrhw model train|prune|share|export|eval|pipeline|bound``: the acoustic model from the
shell."""

import json
import time
from pathlib import Path

DEFAULT_CORPUS = Path("runs/corpus")


def _add_data_options(parser, *, corpus_default=DEFAULT_CORPUS):
    group = parser.add_argument_group("data")
    group.add_argument("--corpus", type=Path, default=corpus_default,
                       help="corpus cache directory (built by `asrhw corpus`)")
    group.add_argument("--synthetic", action="store_true",
                       help="use a synthetic Gaussian stand-in (440-dim frames, 24 pdfs) "
                            "instead of the corpus: for smoke tests without espeak-ng")
    group.add_argument("--seed", type=int, default=0, help="seed of every random choice")


def _add_engine_options(parser):
    group = parser.add_argument_group("engine (hw.config.SpMVConfig; other fields default)")
    group.add_argument("--pes", type=int, default=8, help="processing elements")
    group.add_argument("--index-bits", type=int, default=4,
                       help="width of the relative row index z")
    group.add_argument("--entry-depth", type=int, default=16384,
                       help="entries each PE's memory holds")
    group.add_argument("--acoustic-scale", type=float, default=0.1,
                       help="scale of the logits in the exported costs")


def _add_finetune_options(parser, *, epochs):
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=float, default=epochs, help="most epochs (per level)")
    group.add_argument("--frames-per-epoch", type=int, default=400_000,
                       help="frames drawn per epoch (all if fewer)")
    group.add_argument("--learning-rate", type=float, default=None,
                       help="Adam step size (default 1e-3 for training, 3e-4 for pruning)")
    group.add_argument("--batch-size", type=int, default=256)
    group.add_argument("--weight-decay", type=float, default=0.0,
                       help="L2 penalty on the weights, added to the gradient")
    group.add_argument("--lr-schedule", default="plateau",
                       help="plateau: cut the step size when dev accuracy stalls; cosine: "
                            "also anneal it to 0 over the run")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(top, groups):
    """Add ``model`` and its subcommands."""
    model = top.add_parser(
        "model", help="train, prune, share, export and evaluate the acoustic model",
        description="The NumPy acoustic model (440 -> 256 -> 256 -> pdfs): training, pruning "
                    "(magnitude, coarse blocks, entropy-regularised), 4-bit weight sharing, "
                    "export in the engine's per-PE format, evaluation, and the whole pipeline.")
    sub = model.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = sub.add_parser(
        "train", help="train a dense model",
        description="Train the MLP on the training frames of both tasks with Adam, stopping "
                    "early on dev frame accuracy; write it as an .npz with its config.")
    train.add_argument("--out", type=Path, required=True, help="model file to write")
    train.add_argument("--hidden", default="256,256", help="hidden layer widths")
    _add_finetune_options(train, epochs=12)
    _add_data_options(train)
    train.set_defaults(func=run_train)

    prune = sub.add_parser(
        "prune", help="prune a model iteratively with fine-tuning",
        description="Prune the model (whole model or every layer, --scope) to the target "
                    "sparsity through the standard levels (50, 70, 80, 90, 95, 98 %% up to the "
                    "target), fine-tuning with fixed masks after each. Methods: magnitude "
                    "(fine-grained), block (coarse-grained tiles of --block), entropy "
                    "(magnitude + entropy regulariser).")
    prune.add_argument("--model", type=Path, required=True, help="model to prune")
    prune.add_argument("--out", type=Path, required=True, help="pruned model to write")
    prune.add_argument("--method", choices=["magnitude", "block", "entropy"],
                       default="magnitude")
    prune.add_argument("--sparsity", type=float, default=0.9, help="target sparsity per layer")
    prune.add_argument("--block", default="1x4", help="block shape ROWSxCOLS (block method)")
    prune.add_argument("--entropy-coef", type=float, default=0.3,
                       help="entropy regulariser weight (entropy method)")
    prune.add_argument("--scope", choices=["layer", "global"], default="global",
                       help="sparsity of every layer, or of the whole model (weights ranked "
                            "across layers)")
    prune.add_argument("--distill-weight", type=float, default=0.0,
                       help="fine-tune towards this mix of the input model's posteriors and "
                            "the labels (knowledge distillation; 0 = labels only)")
    prune.add_argument("--distill-temperature", type=float, default=1.0,
                       help="temperature of the distillation term (1 to 20)")
    prune.add_argument("--gradual", type=int, default=1,
                       help="pruning steps per level on a cubic schedule (1 = at once)")
    _add_finetune_options(prune, epochs=1)
    _add_data_options(prune)
    prune.set_defaults(func=run_prune)

    share = sub.add_parser(
        "share", help="4-bit weight sharing: accuracy before and after",
        description="Share each layer's nonzero weights with k-means (15 values + zero), "
                    "fine-tune the shared values with the codes fixed, round codebooks and "
                    "biases to the engine's fixed point, and report test frame accuracy of the "
                    "float model, of the shared weights in float arithmetic, and of the "
                    "engine's integer arithmetic. Writes the shared float model.")
    share.add_argument("--model", type=Path, required=True)
    share.add_argument("--tune-frames", type=int, default=100_000,
                       help="training frames for fine-tuning the shared values after k-means "
                            "(codes fixed, one pass); 0 = k-means only")
    share.add_argument("--out", type=Path, help="shared model to write (optional)")
    share.add_argument("--json", type=Path, help="write the figures here too")
    _add_engine_options(share)
    _add_data_options(share)
    share.set_defaults(func=run_share)

    export = sub.add_parser(
        "export", help="write every layer in the engine's per-PE format + manifest",
        description="Share, round and encode every layer for the engine (sw.csc.save_layer "
                    "files layer_<i>.npz) and write manifest.json with the engine and cost "
                    "configs and the last layer's cost conversion. With data (--corpus or "
                    "--synthetic) the per-layer power-of-two scaling is calibrated on training "
                    "frames; without, no scaling.")
    export.add_argument("--model", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="directory to write")
    export.add_argument("--fold-priors", action="store_true",
                        help="subtract the log-priors in the last bias (scaled likelihoods)")
    _add_engine_options(export)
    _add_data_options(export, corpus_default=None)
    export.set_defaults(func=run_export)

    evaluate = sub.add_parser(
        "eval", help="frame accuracy and mean entropy of a model or an export",
        description="Evaluate a float model (--model) or an exported engine model (--export, "
                    "run with the engine's fixed-point arithmetic) on a split.")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="float model .npz")
    source.add_argument("--export", type=Path, help="directory written by `model export`")
    evaluate.add_argument("--split", choices=["train", "dev", "test"], default="test")
    evaluate.add_argument("--json", type=Path, help="write the figures here too")
    _add_data_options(evaluate)
    evaluate.set_defaults(func=run_eval)

    pipeline = sub.add_parser(
        "pipeline", help="corpus -> train -> prune (3 methods) -> share -> export + report",
        description="Build (or reuse) the corpus, train the dense model, prune it with all "
                    "three methods to 0/50/70/80/90/95/98 %%, measure float and 4-bit engine "
                    "accuracy and entropy on the test voices, export the magnitude 90 %% model "
                    "and check the fast forward pass bit for bit against the golden engine. "
                    "Writes OUT/report.json, OUT/report.png, OUT/models/, OUT/export/.")
    pipeline.add_argument("--out", type=Path, required=True, help="output directory")
    pipeline.add_argument("--quick", action="store_true",
                          help="small corpus and short training (CI; a few minutes)")
    pipeline.add_argument("--hidden", default="256,256", help="hidden layer widths")
    pipeline.add_argument("--block", default="1x4", help="block shape of the block method")
    pipeline.add_argument("--entropy-coef", type=float, default=0.3,
                          help="entropy regulariser weight")
    pipeline.add_argument("--scope", choices=["layer", "global"], default="global",
                          help="sparsity of every layer, or of the whole model")
    pipeline.add_argument("--gradual", type=int, default=12,
                          help="pruning steps per sparsity level on a cubic schedule (1 = at "
                               "once)")
    pipeline.add_argument("--finetune-epochs", default=None, metavar="E,E,...",
                          help="fine-tuning epochs of each level above 0 (50,70,80,90,95,98 %%), "
                               "e.g. 0.5,0.5,2,4,2,1; default: the pipeline's allocation "
                               "(see report.json settings.finetune_epochs)")
    pipeline.add_argument("--distill-weight", type=float, default=None,
                          help="weight of the dense model's posteriors in the fine-tuning target "
                               "(0 to 1; 0 = labels only, plain pruning); default: the "
                               "pipeline's")
    pipeline.add_argument("--distill-temperature", type=float, default=None,
                          help="temperature of the fine-tuning's distillation term (1 to 20); "
                               "default: the pipeline's")
    pipeline.add_argument("--workers", type=int, default=None,
                          help="processes that prune and measure side by side after the dense "
                               "training (1 to 64; the figures do not depend on it); default: "
                               "the pipeline's (2)")
    pipeline.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_engine_options(pipeline)
    _add_data_options(pipeline)
    pipeline.set_defaults(func=run_pipeline)

    bound = sub.add_parser(
        "bound", help="the cycles per frame an FPGA's multipliers allow an export, by batch",
        description="For the test utterances through an export (engine arithmetic), count the "
                    "products a frame needs in an engine of each batch size (every lane of "
                    "every column with a nonzero lane, times the column's stored weights) and "
                    "the columns it broadcasts, and give the floor under its cycles per frame "
                    "with --multipliers products per cycle (padding, load imbalance and "
                    "read-out not counted), the time at each --fmax and, with --peer-us, the "
                    "largest speed-up over that CPU time (sw.multiplier_bound).")
    bound.add_argument("--export", type=Path, required=True,
                       help="directory written by `model export`")
    bound.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                       help="corpus cache directory (built by `asrhw corpus`)")
    bound.add_argument("--task", choices=["digits", "words"], default="digits")
    bound.add_argument("--utterances", type=int, default=50,
                       help="first test utterances of the task (as `asrhw compare` takes them)")
    bound.add_argument("--multipliers", type=int, default=156,
                       help="products per cycle (156: the ECP5-85F's MULT18X18D)")
    bound.add_argument("--batches", default="1,2,4,8,16", metavar="B,B,...",
                       help="engine batch sizes (SpMVConfig.batch, 1 to 64)")
    bound.add_argument("--fmax", default="125", metavar="MHZ,MHZ,...",
                       help="clock frequencies to turn cycles into time")
    bound.add_argument("--peer-us", type=float, default=None,
                       help="the CPU peer's time per frame in microseconds (`asrhw compare`)")
    bound.add_argument("--json", type=Path, help="write the figures here too")
    bound.set_defaults(func=run_bound)


# -- helpers (heavy imports inside) ------------------------------------------------------------

def _errors():
    from hw.config import ConfigError
    from sw.corpus import CorpusError
    from sw.csc import CSCError
    from sw.golden.cost import CostError
    from sw.model import ModelError
    from sw.share import ShareError

    return (ConfigError, CorpusError, CSCError, CostError, ModelError, ShareError)


def _guarded(function):
    """Run ``function`` turning our validation errors into a CommandError."""
    from sw.cli import CommandError

    try:
        return function()
    except _errors() as error:
        raise CommandError(str(error)) from error


def _data(args, *, build: bool = False, quick: bool = False):
    from sw.cli import CommandError
    from sw.model_data import corpus_frames, synthetic_frames

    if args.synthetic:
        return synthetic_frames(seed=args.seed)
    if args.corpus is None:
        return None
    if not build and not Path(args.corpus).is_dir():
        raise CommandError(f"corpus directory {args.corpus} does not exist; build it with "
                           f"`asrhw corpus` or run `asrhw model pipeline`, or use --synthetic")
    return corpus_frames(args.corpus, quick=quick, seed=args.seed, build=build,
                         progress=not getattr(args, "no_progress", False))


def _load(path):
    from sw.model import load_model

    return load_model(path)


def _check_fits(model, data, path):
    from sw.cli import CommandError

    if model.config.input_dim != data.input_dim:
        raise CommandError(f"model {path} takes {model.config.input_dim} input values per "
                           f"frame but the data has {data.input_dim}")
    if model.config.num_pdfs != data.num_pdfs:
        raise CommandError(f"model {path} has {model.config.num_pdfs} outputs (pdfs) but the "
                           f"data has {data.num_pdfs} pdfs")


def _train_config(args, *, learning_rate, evals_per_epoch):
    from sw.train import TrainConfig

    return TrainConfig(epochs=args.epochs, frames_per_epoch=args.frames_per_epoch,
                       learning_rate=args.learning_rate or learning_rate,
                       batch_size=args.batch_size, evals_per_epoch=evals_per_epoch,
                       weight_decay=args.weight_decay, lr_schedule=args.lr_schedule,
                       distill_weight=getattr(args, "distill_weight", 0.0),
                       distill_temperature=getattr(args, "distill_temperature", 1.0),
                       seed=args.seed)


def _engine(args):
    from hw.config import SpMVConfig

    return SpMVConfig(pes=args.pes, index_bits=args.index_bits, entry_depth=args.entry_depth)


def _block(text):
    from sw.cli import CommandError

    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--block must look like 1x4 (ROWSxCOLS), not {text!r}") from None
    return rows, cols


def _number_list(text, option, kind, noun):
    """Comma-separated ``kind`` values of ``option`` (empty parts skipped); a CommandError
    naming the option otherwise."""
    from sw.cli import CommandError

    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CommandError(f"{option} must be comma-separated {noun}, not {text!r}") from None


def _hidden(text):
    return _number_list(text, "--hidden", int, "widths")


def _epochs_list(text):
    return _number_list(text, "--finetune-epochs", float, "numbers")


def _print_metrics(title, metrics):
    print(f"{title}: frame accuracy {metrics['frame_accuracy']:.4f}, mean entropy "
          f"{metrics['mean_entropy']:.3f} nats")


# -- commands ------------------------------------------------------------------------------------

def run_train(args) -> int:
    """Train a dense model."""
    def work():
        from sw.model import MLP, save_model
        from sw.model_pipeline import model_config_for
        from sw.train import evaluate, label_log_priors, train

        data = _data(args)
        config = model_config_for(data, _hidden(args.hidden))
        model = MLP.initialize(config, seed=args.seed)
        model.log_priors = label_log_priors(data["train"][1], data.num_pdfs)
        model, history = train(model, data["train"], data["dev"],
                               _train_config(args, learning_rate=1e-3, evals_per_epoch=2),
                               progress=not args.no_progress, desc="train")
        model.info["training"] = {"steps": history["steps"], "best_dev": history["best_dev"]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_model(args.out, model)
        _print_metrics("dev", history["best_dev"])
        _print_metrics("test", evaluate(model, *data["test"]))
        print(f"model written to {args.out}")
        return 0
    return _guarded(work)


def run_prune(args) -> int:
    """Prune one model with one method."""
    def work():
        from sw.model import save_model
        from sw.prune import DEFAULT_SPARSITIES, check_sparsity, index_storage, prune_schedule
        from sw.train import evaluate

        target = check_sparsity(args.sparsity)
        model = _load(args.model)
        data = _data(args)
        _check_fits(model, data, args.model)
        current = model.total_sparsity() if args.scope == "global" else min(model.sparsity())
        levels = [s for s in DEFAULT_SPARSITIES if current < s < target] + [target]
        block = _block(args.block)
        results = prune_schedule(
            model, data["train"], data["dev"], method=args.method, sparsities=levels,
            finetune=_train_config(args, learning_rate=3e-4, evals_per_epoch=4),
            entropy_coef=args.entropy_coef, block=block, scope=args.scope,
            gradual=args.gradual, progress=not args.no_progress)
        for result in results:
            _print_metrics(f"{args.method} {result['sparsity']:.0%} dev", result["dev"])
        final = results[-1]["model"]
        _print_metrics(f"{args.method} {target:.0%} test", evaluate(final, *data["test"]))
        if args.method == "block":
            for index, w in enumerate(final.weights):
                report = index_storage(w != 0, block)
                print(f"layer {index}: index storage {report['coarse_relative_index_bits']} "
                      f"bits per block vs {report['fine_relative_index_bits']} per weight "
                      f"({report['relative_index_saving']:.1%} saved)")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_model(args.out, final)
        print(f"model written to {args.out}")
        return 0
    return _guarded(work)


def run_share(args) -> int:
    """Share weights; report accuracy before and after."""
    def work():
        from sw.cli import CommandError
        from sw.model import save_model
        from sw.model_pipeline import evaluation_engine
        from sw.quantized import (
            evaluate_quantized,
            finetune_shared,
            quantize_model,
            shared_float_model,
        )
        from sw.train import TrainConfig, evaluate

        if args.tune_frames < 0:
            raise CommandError(f"--tune-frames must be >= 0, not {args.tune_frames}")
        model = _load(args.model)
        data = _data(args)
        _check_fits(model, data, args.model)
        engine = evaluation_engine(_engine(args), model)
        calibration = data["train"][0][:5000]
        tuned = model
        if args.tune_frames:
            tuned, _ = finetune_shared(
                model, data["train"], data["dev"],
                TrainConfig(epochs=1, frames_per_epoch=args.tune_frames, evals_per_epoch=4,
                            patience=2, seed=args.seed), progress=False)
        quantized = quantize_model(tuned, engine, acoustic_scale=args.acoustic_scale,
                                   calibration=calibration)
        shared = shared_float_model(tuned, quantized)
        figures = {"float": evaluate(model, *data["test"]),
                   "shared_float": evaluate(shared, *data["test"]),
                   "engine": evaluate_quantized(quantized, *data["test"]),
                   "exponents": list(quantized.exponents),
                   "saturated": list(quantized.saturated)}
        _print_metrics("float model", figures["float"])
        _print_metrics("4-bit shared weights, float arithmetic", figures["shared_float"])
        _print_metrics("4-bit shared weights, engine fixed point", figures["engine"])
        cost = 100 * (figures["float"]["frame_accuracy"] - figures["engine"]["frame_accuracy"])
        print(f"sharing costs {cost:.2f} points of frame accuracy")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            save_model(args.out, shared)
            print(f"shared model written to {args.out}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
        return 0
    return _guarded(work)


def run_export(args) -> int:
    """Export a model for the engine."""
    def work():
        from sw.quantized import export

        model = _load(args.model)
        data = _data(args)
        calibration = None
        if data is not None:
            _check_fits(model, data, args.model)
            calibration = data["train"][0][:5000]
        manifest = export(model, _engine(args), args.out, acoustic_scale=args.acoustic_scale,
                          calibration=calibration, fold_priors=args.fold_priors)
        for index, layer in enumerate(manifest["layers"]):
            storage = layer["storage"]
            print(f"layer {index}: {layer['rows']}x{layer['cols']}, {storage['nonzeros']} "
                  f"nonzeros, {storage['padding_entries']} padding, most entries in one PE "
                  f"{layer['max_entries_per_pe']}, exponent {layer['exponent']}")
        print(f"cost scale {manifest['cost_scale']} (acoustic scale "
              f"{manifest['acoustic_scale']}); written to {args.out}")
        return 0
    return _guarded(work)


def run_eval(args) -> int:
    """Evaluate a float model or an export."""
    def work():
        data = _data(args)
        x, y = data[args.split]
        if args.model:
            from sw.train import evaluate

            model = _load(args.model)
            _check_fits(model, data, args.model)
            figures = evaluate(model, x, y)
            title = f"{args.model} on {args.split}"
        else:
            from sw.quantized import evaluate_quantized, load_export

            quantized = load_export(args.export)
            if quantized.model_config.num_pdfs != data.num_pdfs:
                from sw.cli import CommandError

                raise CommandError(f"export {args.export} has {quantized.model_config.num_pdfs}"
                                   f" outputs (pdfs) but the data has {data.num_pdfs} pdfs")
            figures = evaluate_quantized(quantized, x, y)
            title = f"{args.export} (engine arithmetic) on {args.split}"
        _print_metrics(title, figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
        return 0
    return _guarded(work)


def run_pipeline(args) -> int:
    """The whole pipeline."""
    def work():
        from sw.model_pipeline import PipelineSettings
        from sw.model_pipeline import run_pipeline as pipeline

        make = PipelineSettings.quick if args.quick else PipelineSettings
        changes = {}
        if args.finetune_epochs is not None:
            changes["finetune_epochs"] = _epochs_list(args.finetune_epochs)
        distill = {name: value for name, value in (
            ("distill_weight", args.distill_weight),
            ("distill_temperature", args.distill_temperature)) if value is not None}
        if distill:
            changes["finetune"] = make().finetune.replace(**distill)
        if args.workers is not None:
            changes["workers"] = args.workers
        settings = make(hidden=_hidden(args.hidden), block=_block(args.block),
                        entropy_coef=args.entropy_coef, scope=args.scope,
                        gradual=args.gradual, spmv=_engine(args),
                        acoustic_scale=args.acoustic_scale, seed=args.seed, **changes)
        started = time.perf_counter()
        data = _data(args, build=True, quick=args.quick)
        report = pipeline(args.out, data, settings, progress=not args.no_progress,
                          data_seconds=time.perf_counter() - started)
        print(f"report: {args.out / 'report.json'}, {args.out / 'report.png'} "
              f"({report['seconds']['total']:.0f} s)")
        for name, target in report["targets"].items():
            print(f"  {'met' if target['met'] else 'NOT met'}: {name} ({target['target']})")
        return 0 if report["export"]["golden_check"]["mismatching_frames"] == 0 else 1
    return _guarded(work)


def run_bound(args) -> int:
    """Print (and write) the multiplier floor of an export by batch size."""
    from sw.cli import CommandError

    batches = _number_list(args.batches, "--batches", int, "integers")
    clocks = _number_list(args.fmax, "--fmax", float, "numbers (MHz)")
    if any(not 1 <= batch <= 64 for batch in batches):
        raise CommandError(f"--batches must be from 1 to 64, not {args.batches!r}")
    if any(not 0 < clock <= 1000 for clock in clocks):
        raise CommandError(f"--fmax must be above 0 and at most 1000 MHz, not {args.fmax!r}")
    if not 1 <= args.multipliers <= 100_000:
        raise CommandError(f"--multipliers must be from 1 to 100000, not {args.multipliers}")
    if args.utterances < 1:
        raise CommandError(f"--utterances must be at least 1, not {args.utterances}")
    if args.peer_us is not None and not args.peer_us > 0:
        raise CommandError(f"--peer-us must be above 0, not {args.peer_us}")

    def work():
        from sw.corpus import load_utterances
        from sw.multiplier_bound import batch_floors
        from sw.quantized import load_export, quantize_features

        quantized = load_export(args.export)
        chosen = load_utterances(args.corpus, args.task, "test")[:args.utterances]
        if len(chosen) < args.utterances:
            raise CommandError(f"the corpus has {len(chosen)} {args.task} test utterances; "
                               f"--utterances asked for {args.utterances}")
        frames = [quantize_features(u.features, quantized.spmv,
                                    input_dim=quantized.layers[0].cols) for u in chosen]
        # batch 1's lane products are the useful ones: one pass over the frames gives both
        counted = batch_floors(quantized, frames, batches=[*dict.fromkeys([*batches, 1])],
                               multipliers=args.multipliers)
        useful = next(floor.lane_products for floor in counted if floor.batch == 1)
        floors = [next(floor for floor in counted if floor.batch == batch) for batch in batches]
        rows = []
        for floor in [*floors, None]:
            cycles = useful / args.multipliers if floor is None else floor.cycles
            row = ({"batch": None, "useful_products": useful, "multipliers": args.multipliers,
                    "cycles": cycles} if floor is None else floor.as_dict())
            row["us_per_frame"] = {f"{clock:g}": cycles / clock for clock in clocks}
            if args.peer_us is not None:
                row["speedup"] = {f"{clock:g}": args.peer_us * clock / cycles
                                  for clock in clocks}
            rows.append(row)
        print(f"{sum(len(f) for f in frames)} frames of {len(chosen)} {args.task} test "
              f"utterances; {args.multipliers} multipliers")
        for row in rows:
            shape = ("any engine (useful products only)" if row["batch"] is None
                     else f"batch {row['batch']:2d}: {row['lane_products']:8.0f} products, "
                          f"{row['columns_read']:6.1f} columns")
            times = ", ".join(
                f"{us:.3f} us at {clock} MHz"
                + (f" ({row['speedup'][clock]:.1f}x)" if "speedup" in row else "")
                for clock, us in row["us_per_frame"].items())
            print(f"{shape}: floor {row['cycles']:7.1f} cycles per frame; {times}")
        if args.json:
            report = {"export": str(args.export), "task": args.task,
                      "utterances": args.utterances, "peer_us": args.peer_us, "rows": rows}
            args.json.write_text(json.dumps(report, indent=1) + "\n")
        return 0
    return _guarded(work)
