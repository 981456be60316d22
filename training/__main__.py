"""The training pipeline's command line: one subcommand per stage, and ``all``.

    python -m training all --name folk --source folk --transpose -6 5 --epochs 10
    python -m training prepare --source folk --transpose -6 5     (training.prepare's options)
    python -m training train --data runs/prepared/prepared-HASH --run runs/folk --epochs 10
    python -m training evaluate --data runs/prepared/prepared-HASH --run runs/folk
    python -m training export --run runs/folk --name folk

Stages meet in files: prepare writes the shards, train writes the run folder
(weights, history, training.json), evaluate adds report.json/.md and the learning
curve, export writes models/NAME. Runs and prepared data default to ``runs/``,
which git ignores.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from training import prepare as prepare_stage
from training.evaluate import EvaluateOptions, evaluate
from training.export import REPO_MODELS_DIR, export
from training.prepare import SPLITS, PrepareOptions, prepare
from training.train import TrainOptions, train

DEFAULT_PREPARED_DIR = PrepareOptions.output_dir
DEFAULT_RUNS_DIR = Path("runs")


def _shards(data_dir: Path) -> dict[str, Path]:
    shards = {split: data_dir / f"{split}.npz" for split in SPLITS}
    missing = [str(path) for path in shards.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"no prepared shards: missing {', '.join(missing)}")
    return shards


_OPTIONAL_ARGUMENT_TYPES = {"steps_per_epoch": int, "warm_start": Path}  # default None


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training")
    for option in fields(TrainOptions):
        if option.name == "out_dir":
            continue
        flag = f"--{option.name.replace('_', '-')}"
        if isinstance(option.default, bool):  # a switch: argparse's type=bool takes any text
            group.add_argument(flag, action="store_true", help="(default: off)")
            continue
        kind = _OPTIONAL_ARGUMENT_TYPES.get(option.name, type(option.default))
        group.add_argument(
            flag, type=kind, default=option.default, help=f"(default: {option.default})"
        )


def _train_options(args: argparse.Namespace, run_dir: Path) -> TrainOptions:
    names = [f.name for f in fields(TrainOptions) if f.name != "out_dir"]
    return TrainOptions(**{name: getattr(args, name) for name in names}, out_dir=run_dir)


def _add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = EvaluateOptions()
    group = parser.add_argument_group("evaluation")
    group.add_argument(
        "--eval-pieces",
        type=int,
        default=defaults.pieces,
        help="test pieces to prime and continue (default: %(default)s)",
    )
    group.add_argument(
        "--prime-bars",
        type=int,
        default=defaults.prime_bars,
        help="bars of each test piece fed to the engine (default: %(default)s)",
    )


def _evaluate_options(args: argparse.Namespace) -> EvaluateOptions:
    return EvaluateOptions(pieces=args.eval_pieces, prime_bars=args.prime_bars)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(  # its options, --help included, go to training.prepare
        "prepare", add_help=False, help="read, split and tokenise the corpus"
    )

    train_parser = commands.add_parser("train", help="train an LSTM on prepared shards")
    train_parser.add_argument("--data", type=Path, required=True, help="prepared shard folder")
    train_parser.add_argument("--run", type=Path, required=True, help="run folder")
    _add_train_arguments(train_parser)

    evaluate_parser = commands.add_parser("evaluate", help="test metrics, baselines, curves")
    evaluate_parser.add_argument("--data", type=Path, required=True, help="prepared shard folder")
    evaluate_parser.add_argument("--run", type=Path, required=True, help="trained run folder")
    _add_evaluate_arguments(evaluate_parser)

    export_parser = commands.add_parser("export", help="write models/NAME from an evaluated run")
    export_parser.add_argument("--run", type=Path, required=True, help="evaluated run folder")
    export_parser.add_argument("--name", required=True, help="model name")
    export_parser.add_argument("--models", type=Path, default=REPO_MODELS_DIR)

    all_parser = commands.add_parser("all", help="prepare, train, evaluate and export")
    all_parser.add_argument("--name", required=True, help="model (and run) name")
    all_parser.add_argument(
        "--source", action="append", dest="sources", help="corpus source; repeat for more"
    )
    all_parser.add_argument("--transpose", nargs=2, type=int, default=PrepareOptions.transpose)
    all_parser.add_argument(
        "--split", nargs=3, type=float, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST")
    )
    all_parser.add_argument("--limit", type=int, help="first N pieces of each collection")
    all_parser.add_argument("--prepared", type=Path, default=DEFAULT_PREPARED_DIR)
    all_parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS_DIR)
    all_parser.add_argument("--models", type=Path, default=REPO_MODELS_DIR)
    _add_train_arguments(all_parser)
    _add_evaluate_arguments(all_parser)
    return parser


def run_all(args: argparse.Namespace) -> Path:
    """Every stage in turn; returns the exported model directory."""
    prepared = prepare(
        PrepareOptions(
            sources=tuple(args.sources or ("folk",)),
            transpose=tuple(args.transpose),
            split=tuple(args.split),
            seed=args.seed,
            limit=args.limit,
            output_dir=args.prepared,
        )
    )
    run_dir = args.runs / args.name
    train(prepared.shards, _train_options(args, run_dir))
    evaluate(prepared.shards, run_dir, _evaluate_options(args))
    return export(run_dir, args.name, args.models)


def _checked(parser: argparse.ArgumentParser, make, *args):
    """Options built from the arguments; a bad value is a usage error, not a traceback."""
    try:
        return make(*args)
    except (TypeError, ValueError) as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "prepare":
        return prepare_stage.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "train":
        train(_shards(args.data), _checked(parser, _train_options, args, args.run))
    elif args.command == "evaluate":
        evaluate(_shards(args.data), args.run, _checked(parser, _evaluate_options, args))
    elif args.command == "export":
        export(args.run, args.name, args.models)
    else:
        _checked(parser, _train_options, args, args.runs / args.name)
        _checked(parser, _evaluate_options, args)
        print(run_all(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
