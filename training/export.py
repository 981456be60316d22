"""The export stage: a finished, evaluated run becomes ``models/NAME/``.

Writes the model directory through :func:`liveimpro.core.modelfile.save_model`
(training facts and test metrics go into model.json), adds ``MODEL_CARD.md``
and the learning curve next to it, then loads the directory back and lets the
NumPy engine play a few beats, so a broken export fails here and not on stage.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from liveimpro.config.settings import AdaptationSettings, NotesSettings, SamplingSettings
from liveimpro.core.continuation import build_continuation
from liveimpro.core.inputstyle import InputStyle
from liveimpro.core.model import ModelSpec, export_weights
from liveimpro.core.modelfile import LoadedModel, load_model, save_model
from liveimpro.core.shards import Shard, load_shard
from liveimpro.music.musicstats import polyphony
from liveimpro.music.vocabulary import (
    TICKS_PER_BEAT,
    Note,
    Vocabulary,
    VocabularySpec,
    bar_ticks,
    decode,
    notes_from_events,
)
from training.corpus import LICENCES, USER_LICENCE
from training.evaluate import CURVE_PNG, REPORT_JSON, bits_table
from training.prepare import COUNTS_FILE
from training.train import build_model_for_run, tokens_seen, train_time_s

MODEL_CARD = "MODEL_CARD.md"
# Training runs from a checkout: new models go into the repository's models/, beside the shipped.
REPO_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
CHECK_BEATS = 8  # beats the engine generates after loading the export

log = logging.getLogger(__name__)


def _training_facts(facts: dict, counts: dict) -> dict:
    """What model.json keeps about training: everything but the per-epoch history, plus
    the time and tokens of training steps behind the model."""
    kept = {key: value for key, value in facts.items() if key != "history"}
    return {
        **kept,
        "train_time_s": round(train_time_s(facts), 1),
        "tokens_seen": tokens_seen(facts),
        "data": counts,
    }


def _metrics(report: dict) -> dict:
    continuation = report["continuation"]
    return {
        "test_bits_per_token": report["lstm"]["test_bits"],
        "test_bits_per_token_adapted": report["lstm"]["test_bits_adapted"],
        "test_bits_per_note": report["lstm"]["test_bits_per_note"],
        "test_bits_per_note_adapted": report["lstm"]["test_bits_per_note_adapted"],
        "adaptation": report["lstm"]["adaptation"],
        "test_accuracy": report["lstm"]["test_accuracy"],
        "test_tokens": report["lstm"]["test_tokens"],
        "baseline_test_bits": {name: r["test_bits"] for name, r in report["baselines"].items()},
        "baseline_test_bits_per_note": {
            name: r["test_bits_per_note"] for name, r in report["baselines"].items()
        },
        "continuation": continuation["stats"],
        "continuation_pieces": continuation["pieces"],
    }


def model_card(
    name: str, facts: dict, training: dict, counts: dict, report: dict, style: InputStyle
) -> str:
    """MODEL_CARD.md: data and licences, split, input style, architecture, training, metrics,
    limits."""
    collections = counts.get("collections", {})
    data_rows = "\n".join(
        f"| {collection} | {c['pieces']} | {c['notes']} "
        f"| {LICENCES.get(collection, USER_LICENCE)} |"
        for collection, c in collections.items()
    )
    split_rows = "\n".join(
        f"| {split} | {c['source_pieces']} | {c['pieces']} | {c['tokens']} |"
        for split, c in counts.get("splits", {}).items()
    )
    model, options = facts["model"], facts["options"]
    adaptation = report["lstm"]["adaptation"]
    names = {
        "LSTM": "LSTM (this model)",
        "LSTM + short-term model (adaptation enabled)": (
            f"LSTM + short-term model (order {adaptation['order']}, bias {adaptation['bias']};"
            " `adaptation.enabled = true`)"
        ),
    }
    metric_rows = "\n".join(
        f"| {names.get(name, name)} | {bits:.3f} | {per_note:.3f} |"
        for name, bits, per_note, _ in bits_table(report)
    )
    stats = report["continuation"]["stats"]
    essen_note = (
        "The Essen folk songs (essenFolksong) are licensed for **non-commercial use within\n"
        "music21** only; a model trained on them inherits that restriction. "
        if "essenFolksong" in collections
        else ""
    )
    warm_start = facts.get("warm_start")
    warm_start_note = (
        f"Warm-started from the best weights of an earlier run of the same model\n"
        f"({warm_start['tokens_seen']} tokens, {warm_start['train_time_s']} s of steps,"
        f" validation loss {warm_start['best_val_loss']:.4f}; in the totals). "
        if warm_start
        else ""
    )
    return f"""# Model card: {name}

## Data and licences

| collection | pieces | notes | licence |
|---|---|---|---|
{data_rows}

{essen_note}Pieces were key-aligned to C, deduplicated by content and split by a hash of each piece
(seed in the options), so no piece is in two splits. Training pieces were also
transposed (the augmentation range is in the prepare options); test and
validation pieces were not.

| split | pieces | pieces with transpositions | tokens |
|---|---|---|---|
{split_rows}

## Input style (model.json `input`)

What the training data looked like, so that a performance is reshaped to match before it
primes the model (`liveimpro.core.inputstyle`): {style.texture}; onsets at ticks
{list(style.onset_grid) or "anywhere"} of each 24-tick beat; velocity
{style.velocity or "as played"}; trained in transpositions {style.transpositions[0]} to
{style.transpositions[1]} semitones from the tune's key aligned to C
({"every key" if style.all_keys else "not every key"}).

## Architecture

Token + sub-beat + beat embeddings (dim {model["embed_dim"]}), {model["layers"]} LSTM layers of
{model["units"]} units, dropout {model["dropout"]}, a dense layer to {model["vocab_size"]} logits;
{facts["parameters"]} parameters.

## Training

Backend {facts["backend"]} on {facts["device"]}; {training["train_time_s"]} s of training steps
over all sessions (the last session's wall time, validation included: {facts["wall_time_s"]} s) for
{facts["epochs_run"]} epochs of {facts["steps_per_epoch"]} steps (batch {options["batch"]} x
{options["seq_len"]} tokens), Adam {options["learning_rate"]} with linear decay and clipnorm
{options["clipnorm"]}, early stopping on validation loss (patience {options["patience"]}).
{warm_start_note}{training["tokens_seen"]} training tokens stepped through in all.

## Test metrics (lower is better)

| model | bits/token | bits/note |
|---|---|---|
{metric_rows}

LSTM top-1 accuracy: {report["lstm"]["test_accuracy"]:.3f} on {report["lstm"]["test_tokens"]}
tokens. Continuations of {report["continuation"]["pieces"]} test pieces primed with
{report["continuation"]["prime_bars"]} bars: note density generated
{stats["generated"]["note_density"]:.3f} vs real {stats["real"]["note_density"]:.3f}; training
interval-n-gram copy rate generated {stats["generated"]["copy_rate"]:.3f} vs real
{stats["real"]["copy_rate"]:.3f}; pitch-class distance {stats["pitch_class_distance"]:.3f}.

![learning curve]({CURVE_PNG})

## Limitations

- Learned from quantised scores with one velocity: it knows nothing of dynamics or
  micro-timing, and plays on the grid. A performance is put into the input style above
  before it primes the model, so timing and dynamics are heard only through the grid and
  through `response.velocity_follow`.
- It knows only the collections above: it answers best to phrases in their style, and
  knows the performer's key only from what the phrase shows (`sampling.scale` can lock it).
- Metrical input assumes the bar length it is told; it was trained on the meters of
  the written tunes.
"""


MONOPHONIC_MAX_POLYPHONY = 1.05  # mean notes sounding at once, up to which data is one voice
GRID_COVERAGE = 0.99  # the onset grid holds the commonest positions up to this share of notes
STYLE_SAMPLE_PIECES = 3000  # untransposed training pieces read to infer the input style


def infer_input_style(shard: Shard, vocabulary: Vocabulary) -> InputStyle:
    """The shape of a training split: texture, onset grid, velocity, transpositions."""
    names = [str(name) for name in shard.names]
    untransposed = [i for i, name in enumerate(names) if "@" not in name]
    step = max(1, len(untransposed) // STYLE_SAMPLE_PIECES)
    pieces = [decode(shard.piece_tokens(i), vocabulary) for i in untransposed[::step]]
    onsets = np.bincount(
        [note.start % TICKS_PER_BEAT for notes in pieces for note in notes],
        minlength=TICKS_PER_BEAT,
    )  # (24,)
    order = np.argsort(-onsets, kind="stable")
    covered = np.cumsum(onsets[order]) / max(1, onsets.sum())
    grid = {0, *(int(t) for t in order[: int(np.searchsorted(covered, GRID_COVERAGE)) + 1])}
    tokens = shard.tokens
    bins = np.unique(
        tokens[(tokens >= vocabulary.velocity_base) & (tokens < vocabulary.shift_base)]
    )
    velocity = (
        vocabulary.bin_velocity(int(bins[0]) - vocabulary.velocity_base) if len(bins) == 1 else 0
    )
    shifts = [int(name.rsplit("@", 1)[1]) for name in names if "@" in name] or [0]
    return InputStyle(
        texture="monophonic" if polyphony(pieces) <= MONOPHONIC_MAX_POLYPHONY else "polyphonic",
        onset_grid=tuple(sorted(grid)),
        velocity=velocity,
        transpositions=(min(0, *shifts), max(0, *shifts)),
    )


def generate_check(loaded: LoadedModel, beats: int = CHECK_BEATS) -> list[Note]:
    """Notes the engine plays for ``beats`` beats after a BOS, with the default limits."""
    continuation = build_continuation(
        loaded,
        SamplingSettings(seed=0),
        NotesSettings(),
        ticks_per_bar=bar_ticks(4),
        adaptation=AdaptationSettings(),
    )
    continuation.start(0)
    end_tick = beats * TICKS_PER_BEAT
    events = continuation.generate_until(end_tick) + continuation.release_all(end_tick)
    return notes_from_events(events)


def export(run_dir: Path, name: str, models_dir: Path = REPO_MODELS_DIR) -> Path:
    """Write ``models_dir/name`` from an evaluated run; returns the model directory."""
    model, facts = build_model_for_run(run_dir)
    vocabulary = Vocabulary(VocabularySpec.from_dict(facts["vocabulary"]))
    report = json.loads((run_dir / REPORT_JSON).read_text())
    style = infer_input_style(load_shard(Path(facts["prepared_dir"]) / "train.npz"), vocabulary)
    counts = json.loads((Path(facts["prepared_dir"]) / COUNTS_FILE).read_text())
    training = _training_facts(facts, counts)
    directory = save_model(
        models_dir / name,
        ModelSpec.from_dict(facts["model"]),
        vocabulary.spec,
        export_weights(model),
        training=training,
        metrics=_metrics(report),
        input_style=style,
    )
    shutil.copyfile(run_dir / CURVE_PNG, directory / CURVE_PNG)
    (directory / MODEL_CARD).write_text(model_card(name, facts, training, counts, report, style))

    notes = generate_check(load_model(directory))
    log.info(
        "exported %s; the engine played %d notes in %d beats", directory, len(notes), CHECK_BEATS
    )
    return directory
