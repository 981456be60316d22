"""The ``liveimpro`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from liveimpro.cli import bench, ctl, keygen
from liveimpro.cli.args import settings_from_args, with_given
from liveimpro.config.settings import MIDI_APIS
from liveimpro.errors import UserError

PANEL_HOST, PANEL_PORT = "127.0.0.1", 8766
OSC_PORT, OSC_REPLY_PORT = 9000, 9001


def cmd_continue(args: argparse.Namespace) -> int:
    from liveimpro.core.continuation import load_continuation
    from liveimpro.core.engine import pin_blas_threads
    from liveimpro.core.priming import PhrasePrimer
    from liveimpro.harness.pianoroll import render
    from liveimpro.midi.midifile import add_track, read_phrase, ticks_per_bar
    from liveimpro.music.vocabulary import TICKS_PER_BEAT, notes_from_events

    pin_blas_threads()
    settings = settings_from_args(args)
    settings = dataclasses.replace(
        settings,
        model=with_given(settings.model, name=args.model),
        sampling=with_given(
            settings.sampling, temperature=args.temperature, top_p=args.top_p, seed=args.seed
        ),
    )
    beats = with_given(settings.continuation, beats=args.beats).beats
    midi, notes = read_phrase(Path(args.input))
    model, continuation = load_continuation(settings, ticks_per_bar=ticks_per_bar(midi))
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
    """Print the MIDI ports an input can listen to and an output can play to."""
    from liveimpro.midi.rtmidi import list_ports
    from liveimpro.midi.system import check_midi_system

    check_midi_system(args.api)
    ports = list_ports(args.api)
    for heading, key in (("inputs (listen to)", "inputs"), ("outputs (play to)", "outputs")):
        print(f"{heading}:")
        for name in ports[key]:
            print(f"  {name}")
    return 0


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

    bench.add_parsers(commands)

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
    keygen.add_parsers(commands)
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
