"""``liveimpro bench``: the benchmarks, each printing its figures as JSON.

The work is in liveimpro.harness; each subcommand here reads its options and prints the result.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from liveimpro.cli.args import settings_from_args, with_given
from liveimpro.errors import UsageError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add ``bench`` and its subcommands to the ``liveimpro`` command line."""
    bench = commands.add_parser("bench", help="print benchmark figures as JSON")
    bench_kinds = bench.add_subparsers(dest="what", required=True)
    engine = bench_kinds.add_parser("engine", help="per-step latency: NumPy vs Keras")
    engine.add_argument(
        "--sizes", nargs="*", type=model_size, default=[(2, 512)], help="LAYERSxUNITS, e.g. 2x512"
    )
    engine.add_argument(
        "--model",
        nargs="*",
        default=None,
        help="shipped model names to include (default: all in models/)",
    )
    engine.add_argument("--steps", type=int, default=2000, help="engine steps per size")
    engine.set_defaults(run=cmd_bench)
    _add_daemon_benches(bench_kinds)

    control = _live_bench(
        bench_kinds,
        "control",
        "control round trip in an answer; output jitter with and without load",
        cmd_bench_control,
    )
    control.add_argument("--requests", type=int, default=2000, help="round trips timed")
    control.add_argument("--seconds", type=float, default=8.0, help="jitter measured per case")
    control.add_argument("--rate", type=int, default=1000, help="control load, requests/s")

    panel_bench = _live_bench(
        bench_kinds,
        "panel",
        "daemon CPU with and without open panels; event to frame in the page",
        cmd_bench_panel,
    )
    panel_bench.add_argument("--panels", type=int, default=2, help="panels open at once")
    panel_bench.add_argument("--rounds", type=int, default=4, help="calls and answers per stretch")
    _add_jack_period(panel_bench)

    quality = bench_kinds.add_parser(
        "quality", help="answers to score, transposed and performed primes on the test split"
    )
    quality.add_argument("--model", help="model name (under models/) or path")
    quality.add_argument(
        "--data", type=Path, help="prepared data folder holding test.npz (default: the model's)"
    )
    quality.add_argument("--pieces", type=int, default=200, help="test pieces (default: 200)")
    quality.add_argument("--temperature", type=float, help="sampling temperature, 0 < T <= 5")
    quality.add_argument("--top-p", type=float, help="nucleus sampling mass, 0 < p <= 1")
    quality.add_argument("--scale", help="scale lock while sampling (sampling.scale)")
    quality.add_argument(
        "--adaptation",
        choices=("on", "off"),
        help="mix in the short-term model (adaptation.enabled)",
    )
    quality.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    quality.set_defaults(run=cmd_bench_quality)


def _live_bench(
    bench_kinds: argparse._SubParsersAction,
    what: str,
    help_text: str,
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """A benchmark of the live daemon, which plays the model ``--model`` (folk unless given)."""
    kind = bench_kinds.add_parser(what, help=help_text)
    kind.add_argument("--model", default="folk", help="model name (under models/) or path")
    kind.set_defaults(run=run)
    return kind


def _add_jack_period(kind: argparse.ArgumentParser) -> None:
    kind.add_argument("--period", type=int, default=256, help="JACK period in frames")


def _add_daemon_benches(bench_kinds: argparse._SubParsersAction) -> None:
    daemon_kinds = {
        "latency": "phrase end -> first answer note, p50/p99 per phrase length",
        "jitter": "answer timing against the ideal tick grid at the receiver",
        "startup": "daemon start to ready, memory, no TensorFlow",
        "idle": "the daemon's CPU while it waits",
        "soak": "call and response for minutes: answers, stuck notes, memory, timing",
    }
    daemon_benches = {}
    for what, help_text in daemon_kinds.items():
        on_jack = f"live daemon on a private JACK server: {help_text}"
        daemon_benches[what] = _live_bench(bench_kinds, what, on_jack, cmd_bench_daemon)
        _add_jack_period(daemon_benches[what])
    daemon_benches["latency"].add_argument(
        "--lengths", type=int, nargs="+", default=[8, 64, 512], help="phrase lengths in notes"
    )
    daemon_benches["latency"].add_argument(
        "--phrases", type=int, default=20, help="phrases played per length"
    )
    daemon_benches["jitter"].add_argument(
        "--beats", type=float, default=32.0, help="length of the answer measured, in beats"
    )
    daemon_benches["jitter"].add_argument(
        "--bpm", type=float, default=120.0, help="tempo of the daemon's clock"
    )
    daemon_benches["startup"].add_argument("--runs", type=int, default=5, help="daemon starts")
    daemon_benches["idle"].add_argument(
        "--seconds", type=float, default=10.0, help="idle wall time measured"
    )
    daemon_benches["soak"].add_argument(
        "--minutes", type=float, default=60.0, help="how long to play (default: 60)"
    )
    daemon_benches["soak"].add_argument(
        "--every", type=float, default=3.0, help="seconds from one phrase to the next"
    )


def model_size(text: str) -> tuple[int, int]:
    """LAYERSxUNITS, such as 2x512, as (layers, units)."""
    layers, _, units = text.partition("x")
    if not (layers.isdigit() and units.isdigit()):
        raise argparse.ArgumentTypeError(f"expected LAYERSxUNITS such as 2x512, got {text!r}")
    return int(layers), int(units)


def cmd_bench(args: argparse.Namespace) -> int:
    from liveimpro.harness.bench import bench_engine

    print(json.dumps(bench_engine(args.sizes, steps=args.steps, models=args.model), indent=2))
    return 0


def cmd_bench_daemon(args: argparse.Namespace) -> int:
    from liveimpro.harness import benchdaemon, benchsoak

    options = {"model": args.model, "period": args.period}
    if args.what == "latency":
        result = benchdaemon.bench_latency(
            lengths=tuple(args.lengths), phrases=args.phrases, **options
        )
    elif args.what == "jitter":
        result = benchdaemon.bench_jitter(beats=args.beats, bpm=args.bpm, **options)
    elif args.what == "startup":
        result = benchdaemon.bench_startup(runs=args.runs, **options)
    elif args.what == "soak":
        result = benchsoak.bench_soak(minutes=args.minutes, every_s=args.every, **options)
    else:
        result = benchdaemon.bench_idle(seconds=args.seconds, **options)
    print(json.dumps(result, indent=2))
    return 0


def cmd_bench_panel(args: argparse.Namespace) -> int:
    from liveimpro.harness.benchpanel import bench_panel

    result = bench_panel(
        model=args.model, panels=args.panels, rounds=args.rounds, period=args.period
    )
    print(json.dumps(result, indent=2))
    return 0


def cmd_bench_control(args: argparse.Namespace) -> int:
    from liveimpro.harness.benchcontrol import bench_control

    result = bench_control(
        model=args.model, requests=args.requests, seconds=args.seconds, rate=args.rate
    )
    print(json.dumps(result, indent=2))
    return 0


def cmd_bench_quality(args: argparse.Namespace) -> int:
    from liveimpro.core.engine import pin_blas_threads
    from liveimpro.core.modelfile import load_model, resolve_model
    from liveimpro.harness.benchquality import bench_quality

    if args.pieces < 1:
        raise UsageError(f"--pieces must be at least 1, got {args.pieces}")
    pin_blas_threads()
    settings = settings_from_args(args)
    model_settings = with_given(settings.model, name=args.model)
    model = load_model(resolve_model(model_settings.name, model_settings.models_path()))
    sampling = with_given(
        settings.sampling,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        scale=args.scale,
    )
    enabled = None if args.adaptation is None else args.adaptation == "on"
    adaptation = with_given(settings.adaptation, enabled=enabled)
    data = args.data or Path(model.training.get("prepared_dir", "runs/prepared"))
    result = bench_quality(
        model,
        data,
        pieces=args.pieces,
        sampling=sampling,
        adaptation=adaptation,
        seed=args.seed,
    )
    print(json.dumps(result, indent=2))
    return 0
