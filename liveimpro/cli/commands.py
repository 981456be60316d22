"""The ``liveimpro`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from liveimpro.cli import ctl
from liveimpro.cli.args import settings_from_args, with_given
from liveimpro.config.settings import MIDI_APIS
from liveimpro.errors import UsageError, UserError

PANEL_HOST, PANEL_PORT = "127.0.0.1", 8766
OSC_PORT, OSC_REPLY_PORT = 9000, 9001


def cmd_continue(args: argparse.Namespace) -> int:
    from liveimpro.core.continuation import build_continuation
    from liveimpro.core.engine import pin_blas_threads
    from liveimpro.core.modelfile import load_model, resolve_model
    from liveimpro.core.priming import PhrasePrimer
    from liveimpro.harness.pianoroll import render
    from liveimpro.midi.midifile import add_track, read_phrase, ticks_per_bar
    from liveimpro.music.vocabulary import TICKS_PER_BEAT, notes_from_events

    pin_blas_threads()
    settings = settings_from_args(args)
    model_settings = with_given(settings.model, name=args.model)
    sampling = with_given(
        settings.sampling, temperature=args.temperature, top_p=args.top_p, seed=args.seed
    )
    beats = with_given(settings.continuation, beats=args.beats).beats
    model = load_model(resolve_model(model_settings.name, model_settings.models_path()))
    midi, notes = read_phrase(Path(args.input))

    continuation = build_continuation(
        model, sampling, settings.notes, ticks_per_bar(midi), settings.adaptation
    )
    PhrasePrimer(continuation).prime(notes)
    end = continuation.tick + round(beats * TICKS_PER_BEAT)
    events = continuation.generate_until(end) + continuation.release_all(end)
    response = notes_from_events(events)
    add_track(midi, response, name=f"liveimpro continuation ({model.name})")
    midi.write(str(args.output))
    if args.show:
        print(render(notes, response, continuation.ticks_per_bar))
    played = sum(event.is_on for event in events)
    print(
        f"wrote {args.output}: {len(notes)} phrase notes + {played} continuation notes "
        f"({beats:g} beats, model {model.name})"
    )
    return 0


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


def cmd_models(args: argparse.Namespace) -> int:
    from liveimpro.core.modelfile import available_models, load_model

    directory = settings_from_args(args).model.models_path()
    for name in available_models(directory):
        model = load_model(directory / name)
        spec = model.spec
        print(
            f"{name}: {spec.layers}x{spec.units} LSTM, {spec.parameter_count:,} parameters, "
            f"trained on {model.training.get('device', 'unknown device')}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from liveimpro.daemon import run_daemon

    settings = settings_from_args(args)
    daemon = with_given(settings.daemon, api=args.api, input=args.input, output=args.output)
    model = with_given(settings.model, name=args.model)
    panel = _start_panel(args) if args.panel else None
    try:
        return run_daemon(dataclasses.replace(settings, daemon=daemon, model=model))
    finally:
        if panel is not None:
            panel.terminate()
            panel.wait()


def _start_panel(args: argparse.Namespace) -> subprocess.Popen:
    """``liveimpro panel`` beside the daemon, in a process of its own: the page's work never
    takes the daemon's interpreter lock. It prints its address itself."""
    config = [] if args.config is None else ["--config", str(args.config)]
    command = [sys.executable, "-m", "liveimpro", *config, "panel"]
    return subprocess.Popen([*command, "--host", args.panel_host, "--port", str(args.panel_port)])


def cmd_panel(args: argparse.Namespace) -> int:
    import asyncio

    from liveimpro.surfaces.panel.server import serve_panel

    asyncio.run(serve_panel(settings_from_args(args).control, args.host, args.port))
    return 0


def cmd_osc(args: argparse.Namespace) -> int:
    from liveimpro.surfaces.osc import serve_osc

    serve_osc(
        settings_from_args(args).control, args.host, args.port, args.reply_host, args.reply_port
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from liveimpro.core.modelfile import resolve_model
    from liveimpro.harness.demo import DEMO_PHRASE, run_demo

    settings = settings_from_args(args)
    model = with_given(settings.model, name=args.model)
    resolve_model(model.name, model.models_path())  # an unknown model fails here, in one line
    try:
        return run_demo(
            dataclasses.replace(settings, model=model),
            args.phrase or DEMO_PHRASE,
            args.output,
            period=args.period,
        )
    except KeyboardInterrupt:  # the daemon, our ports and any private server are stopped by now
        print("liveimpro demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


def cmd_ports(args: argparse.Namespace) -> int:
    from liveimpro.daemon import print_ports

    return print_ports(args.api)


def model_size(text: str) -> tuple[int, int]:
    """LAYERSxUNITS, such as 2x512, as (layers, units)."""
    layers, _, units = text.partition("x")
    if not (layers.isdigit() and units.isdigit()):
        raise argparse.ArgumentTypeError(f"expected LAYERSxUNITS such as 2x512, got {text!r}")
    return int(layers), int(units)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveimpro", description=__doc__)
    parser.add_argument("--config", type=Path, default=None, help="settings file (TOML)")
    commands = parser.add_subparsers(dest="command", required=True)

    cont = commands.add_parser("continue", help="continue the phrase in a MIDI file")
    cont.add_argument("input", help="MIDI file holding the phrase")
    cont.add_argument("-o", "--output", required=True, help="MIDI file to write")
    cont.add_argument("--model", help="model name (under models/) or path")
    cont.add_argument("--beats", type=float, help="length of the continuation in beats")
    cont.add_argument("--temperature", type=float, help="sampling temperature, 0 < T <= 5")
    cont.add_argument("--top-p", type=float, help="nucleus sampling mass, 0 < p <= 1")
    cont.add_argument("--seed", type=int, help="random seed (the same seed, the same output)")
    cont.add_argument("--show", action="store_true", help="print call and response as a piano roll")
    cont.set_defaults(run=cmd_continue)

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
    daemon_kinds = {
        "latency": "phrase end -> first answer note, p50/p99 per phrase length",
        "jitter": "answer timing against the ideal tick grid at the receiver",
        "startup": "daemon start to ready, memory, no TensorFlow",
        "idle": "the daemon's CPU while it waits",
        "soak": "call and response for minutes: answers, stuck notes, memory, timing",
    }
    daemon_benches = {}
    for what, help_text in daemon_kinds.items():
        kind = bench_kinds.add_parser(
            what, help=f"live daemon on a private JACK server: {help_text}"
        )
        kind.add_argument("--model", default="folk", help="model name (under models/) or path")
        kind.add_argument("--period", type=int, default=256, help="JACK period in frames")
        kind.set_defaults(run=cmd_bench_daemon)
        daemon_benches[what] = kind
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

    control = bench_kinds.add_parser(
        "control", help="control round trip in an answer; output jitter with and without load"
    )
    control.add_argument("--model", default="folk", help="model name (under models/) or path")
    control.add_argument("--requests", type=int, default=2000, help="round trips timed")
    control.add_argument("--seconds", type=float, default=8.0, help="jitter measured per case")
    control.add_argument("--rate", type=int, default=1000, help="control load, requests/s")
    control.set_defaults(run=cmd_bench_control)

    panel_bench = bench_kinds.add_parser(
        "panel", help="daemon CPU with and without open panels; event to frame in the page"
    )
    panel_bench.add_argument("--model", default="folk", help="model name (under models/) or path")
    panel_bench.add_argument("--panels", type=int, default=2, help="panels open at once")
    panel_bench.add_argument("--rounds", type=int, default=4, help="calls and answers per stretch")
    panel_bench.add_argument("--period", type=int, default=256, help="JACK period in frames")
    panel_bench.set_defaults(run=cmd_bench_panel)

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

    models = commands.add_parser("models", help="list the available models")
    models.set_defaults(run=cmd_models)

    run = commands.add_parser("run", help="improvise live: listen on MIDI in, answer on MIDI out")
    # SUPPRESS: given here or before the command, the one given wins
    run.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    run.add_argument("--in", dest="input", help="port to listen to (default: our own port)")
    run.add_argument("--out", dest="output", help="port to play to (default: our own port)")
    run.add_argument("--api", choices=MIDI_APIS, help="MIDI API (default: daemon.api)")
    run.add_argument("--model", help="model name (under models/) or path")
    run.add_argument("--panel", action="store_true", help="serve the web panel beside it")
    run.add_argument("--panel-host", default=PANEL_HOST, help="the panel's address")
    run.add_argument("--panel-port", type=int, default=PANEL_PORT, help="the panel's port")
    run.set_defaults(run=cmd_run)

    panel = commands.add_parser("panel", help="a web page that shows and steers the daemon")
    panel.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    panel.add_argument(
        "--host", default=PANEL_HOST, help="address to serve on; not loopback needs a token"
    )
    panel.add_argument("--port", type=int, default=PANEL_PORT, help="port (0: any free one)")
    panel.set_defaults(run=cmd_panel)

    osc = commands.add_parser("osc", help="OSC in and out: commands in, the daemon's events out")
    osc.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    osc.add_argument("--host", default="127.0.0.1", help="address to listen on")
    osc.add_argument("--port", type=int, default=OSC_PORT, help="UDP port to listen on")
    osc.add_argument("--reply-host", default="127.0.0.1", help="where events and errors go")
    osc.add_argument("--reply-port", type=int, default=OSC_REPLY_PORT, help="their UDP port")
    osc.set_defaults(run=cmd_osc)

    demo = commands.add_parser(
        "demo", help="play the demo phrase into the live daemon; show and save its answer"
    )
    demo.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    demo.add_argument("--model", help="model name (under models/) or path")
    demo.add_argument(
        "-o", "--output", type=Path, default=Path("demo.mid"), help="MIDI file to write"
    )
    demo.add_argument(
        "--phrase", type=Path, default=None, help="MIDI file to play (default: the demo phrase)"
    )
    demo.add_argument(
        "--period",
        type=int,
        default=256,
        help="JACK period in frames, if a private server is started",
    )
    demo.set_defaults(run=cmd_demo)

    ports = commands.add_parser("ports", help="list the MIDI ports")
    ports.add_argument("--api", choices=MIDI_APIS, default="jack", help="MIDI API")
    ports.set_defaults(run=cmd_ports)

    ctl.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:  # anything else is a bug: its traceback shows
        print(f"liveimpro: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
