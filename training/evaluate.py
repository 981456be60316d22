"""The evaluate stage: the trained LSTM against the baselines on the test split.

Three parts, written to ``report.json``, ``report.md`` and ``learning_curve.png``
in the run folder:

- bits per token and top-1 accuracy of the LSTM on every test piece, whole
  (every token after the first BOS is predicted, as for the baselines);
- the baselines of :func:`training.baselines.evaluate_baselines`, fitted on the
  untransposed training pieces (augmentation is for the network; the count-based
  models would only be slowed by it) and scored on the same test tokens;
- continuation statistics: the NumPy engine, primed with the first bars of test
  pieces, samples as long as the real continuation; both are compared by
  :func:`liveimpro.music.musicstats.continuation_stats`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveimpro.config.fields import check_fields, setting
from liveimpro.config.settings import AdaptationSettings, NotesSettings, SamplingSettings
from liveimpro.core.adaptation import mix_by_entropy
from liveimpro.core.continuation import build_continuation
from liveimpro.core.model import ModelSpec, export_weights
from liveimpro.core.modelfile import LoadedModel
from liveimpro.core.shards import Shard, load_shard
from liveimpro.music.musicstats import IntervalNgramIndex, continuation_stats
from liveimpro.music.vocabulary import Note, Vocabulary, VocabularySpec, decode, notes_from_events
from training.baselines import evaluate_baselines, short_term_distributions
from training.train import build_model_for_run

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CURVE_PNG = "learning_curve.png"
EVAL_BATCH_TOKENS = 64 * 1024  # padded tokens per prediction batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateOptions:
    pieces: int = setting(50, "test pieces primed and continued", low=1)
    prime_bars: int = setting(8, "bars of each test piece that prime the model", low=1)
    seed: int = setting(0, "sampling seed for the continuations", low=0)
    temperature: float = 1.0
    top_p: float = 0.95

    def __post_init__(self) -> None:
        check_fields(self)


def _pieces(shard: Shard, untransposed_only: bool = False) -> list[np.ndarray]:
    # Transposed training copies are named "name@+3" (training.prepare).
    return [
        shard.piece_tokens(i)
        for i, name in enumerate(shard.names)
        if not (untransposed_only and "@" in str(name))
    ]


# LSTM likelihood -----------------------------------------------------------------------


def lstm_scores(
    model, shard: Shard, vocabulary: Vocabulary, adaptation: AdaptationSettings | None = None
) -> dict[str, float]:
    """Bits per token and top-1 accuracy over every test token after each piece's BOS,
    and bits per token with the engine's adaptation (the short-term model mixed in).

    Pieces go through the model whole, in batches of similar length padded at
    the end (padding after a piece cannot change its earlier outputs).
    """
    order = np.argsort(np.diff(shard.offsets))
    adaptation = adaptation or AdaptationSettings()
    log2_sum, adapted_sum, correct, count = 0.0, 0.0, 0, 0
    batch: list[int] = []
    for position, index in enumerate(order):
        batch.append(int(index))
        longest = int(np.diff(shard.offsets)[index])
        last = position == len(order) - 1
        if last or (len(batch) + 1) * longest > EVAL_BATCH_TOKENS:
            nll, adapted, hits, n = _score_batch(model, shard, batch, vocabulary, adaptation)
            log2_sum, adapted_sum = log2_sum + nll, adapted_sum + adapted
            correct, count = correct + hits, count + n
            batch = []
    return {
        "test_bits": log2_sum / count,
        "test_bits_adapted": adapted_sum / count,
        "adaptation": {"order": adaptation.order, "bias": adaptation.bias},
        "test_accuracy": correct / count,
        "test_tokens": count,
    }


def _score_batch(
    model,
    shard: Shard,
    indices: list[int],
    vocabulary: Vocabulary,
    adaptation: AdaptationSettings,
) -> tuple[float, float, int, int]:
    pieces = [shard.piece_tokens(i).astype(np.int64) for i in indices]
    width = max(len(p) for p in pieces) - 1
    inputs = np.zeros((len(pieces), 3, width), np.int32)  # tokens, sub_beat, beat
    targets = np.zeros((len(pieces), width), np.int64)  # (B, T)
    mask = np.zeros((len(pieces), width), bool)  # (B, T)
    for row, (piece, index) in enumerate(zip(pieces, indices, strict=True)):
        n = len(piece) - 1
        sub_beat, beat = vocabulary.metrical_features(piece, int(shard.ticks_per_bar[index]))
        inputs[row, :, :n] = piece[:-1], sub_beat[:-1], beat[:-1]
        targets[row, :n] = piece[1:]
        mask[row, :n] = True
    logits = np.asarray(
        model.predict_on_batch(
            {"tokens": inputs[:, 0], "sub_beat": inputs[:, 1], "beat": inputs[:, 2]}
        ),
        dtype=np.float64,
    )  # (B, T, V)
    log_z = np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1))  # (B, T)
    log_z += logits.max(-1)
    target_logits = np.take_along_axis(logits, targets[..., None], -1)[..., 0]  # (B, T)
    nll_bits = (log_z - target_logits) / math.log(2)  # (B, T)
    hits = logits.argmax(-1) == targets  # (B, T)
    adapted_bits = 0.0
    for row, piece in enumerate(pieces):
        n = len(piece) - 1
        network = np.exp(logits[row, :n] - log_z[row, :n, None])  # (n, V)
        short_term = short_term_distributions([piece], vocabulary.size, adaptation.order)
        mixed = mix_by_entropy(network, short_term, adaptation.bias, "arithmetic")  # (n, V)
        adapted_bits -= float(np.log2(mixed[np.arange(n), piece[1:]]).sum())
    return float(nll_bits[mask].sum()), adapted_bits, int(hits[mask].sum()), int(mask.sum())


# Continuations -------------------------------------------------------------------------


def continue_pieces(
    loaded: LoadedModel, shard: Shard, options: EvaluateOptions
) -> tuple[list[list[Note]], list[list[Note]]]:
    """(generated, real) continuations of the first test pieces longer than the prime."""
    vocabulary = loaded.vocabulary
    sampling = SamplingSettings(
        temperature=options.temperature, top_p=options.top_p, seed=options.seed
    )
    generated, real = [], []
    for index in range(len(shard)):
        if len(generated) == options.pieces:
            break
        ticks_per_bar = int(shard.ticks_per_bar[index])
        tokens = shard.piece_tokens(index).astype(np.int64)  # (T,) BOS ... EOS
        ticks_after = np.cumsum(vocabulary.shift_ticks[tokens])  # (T,)
        prime_ticks = options.prime_bars * ticks_per_bar
        end_tick = int(ticks_after[-1])
        if end_tick <= prime_ticks:
            continue
        cut = int(np.searchsorted(ticks_after, prime_ticks)) + 1  # through the shift reaching it
        continuation = build_continuation(
            loaded, sampling, NotesSettings(), ticks_per_bar, AdaptationSettings()
        )
        continuation.start(0)
        continuation.feed_tokens(int(t) for t in tokens[1:cut])
        start_tick = continuation.tick
        events = continuation.generate_until(end_tick) + continuation.release_all(end_tick)
        generated.append(notes_from_events(events))
        real.append([n for n in decode(tokens, vocabulary) if n.start >= start_tick])
    return generated, real


# Report --------------------------------------------------------------------------------


def plot_learning_curve(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history["loss"]) + 1)
    figure, axis = plt.subplots(figsize=(6, 4))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        if key in history:
            axis.plot(epochs, np.asarray(history[key]) / math.log(2), marker="o", label=label)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("bits per token")
    axis.set_title("Learning curve")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def bits_table(report: dict) -> list[tuple[str, float, float, str]]:
    """(model, bits/token, bits/note, top-1 accuracy) for the LSTM and every baseline."""
    lstm = report["lstm"]
    rows = [
        ("LSTM", lstm["test_bits"], lstm["test_bits_per_note"], f"{lstm['test_accuracy']:.3f}"),
        (
            "LSTM + short-term model (adaptation enabled)",
            lstm["test_bits_adapted"],
            lstm["test_bits_per_note_adapted"],
            "",
        ),
    ]
    return rows + [
        (name, result["test_bits"], result["test_bits_per_note"], "")
        for name, result in report["baselines"].items()
    ]


def report_markdown(report: dict) -> str:
    lstm = report["lstm"]
    table = "\n".join(
        f"| {name} | {bits:.3f} | {per_note:.3f} | {accuracy} |"
        for name, bits, per_note, accuracy in bits_table(report)
    )
    stats = report["continuation"]["stats"]
    side_rows = "\n".join(
        f"| {key} | {stats['generated'][key]:.3f} | {stats['real'][key]:.3f} |"
        for key in stats["generated"]
    )
    cont = report["continuation"]
    return (
        "# Evaluation on the test split\n\n"
        f"Test tokens predicted: {lstm['test_tokens']}, notes: {lstm['test_notes']} "
        f"({report['data']['test_pieces']} pieces).\n\n"
        "| model | bits/token | bits/note | top-1 accuracy |\n|---|---|---|---|\n"
        f"{table}\n\n"
        f"## Continuations ({cont['pieces']} test pieces, "
        f"primed with {cont['prime_bars']} bars)\n\n"
        "| statistic | generated | real |\n|---|---|---|\n"
        f"{side_rows}\n\n"
        f"Pitch-class distance (generated vs real): {stats['pitch_class_distance']:.3f}\n\n"
        f"![learning curve]({CURVE_PNG})\n"
    )


def evaluate(
    shards: dict[str, Path], run_dir: Path, options: EvaluateOptions | None = None
) -> dict:
    """Evaluate the run in ``run_dir``; writes and returns the report."""
    options = options or EvaluateOptions()
    model, facts = build_model_for_run(run_dir)
    vocabulary = Vocabulary(VocabularySpec.from_dict(facts["vocabulary"]))
    train_shard, val_shard, test_shard = (
        load_shard(shards[s]) for s in ("train", "validation", "test")
    )
    if len(test_shard) == 0:
        raise ValueError(f"the test split {shards['test']} holds no pieces")

    log.info("LSTM on %d test pieces", len(test_shard))
    lstm = lstm_scores(model, test_shard, vocabulary)
    log.info(
        "LSTM: %.4f bits/token (%.4f adapted), accuracy %.4f",
        lstm["test_bits"],
        lstm["test_bits_adapted"],
        lstm["test_accuracy"],
    )

    notes = int(
        np.count_nonzero(
            (test_shard.tokens >= vocabulary.note_on_base)
            & (test_shard.tokens < vocabulary.note_off_base)
        )
    )
    tokens_per_note = lstm["test_tokens"] / notes
    lstm.update(
        test_notes=notes,
        test_bits_per_note=lstm["test_bits"] * tokens_per_note,
        test_bits_per_note_adapted=lstm["test_bits_adapted"] * tokens_per_note,
    )

    train_pieces = _pieces(train_shard, untransposed_only=True)
    log.info("baselines on %d untransposed training pieces", len(train_pieces))
    baselines = evaluate_baselines(
        train_pieces, _pieces(val_shard), _pieces(test_shard), vocabulary.size
    )
    for name, result in baselines.items():
        result["test_bits_per_note"] = result["test_bits"] * tokens_per_note
        log.info("%s: %.4f bits/token", name, result["test_bits"])

    loaded = LoadedModel(
        name=run_dir.name,
        path=run_dir,
        spec=ModelSpec.from_dict(facts["model"]),
        vocabulary=vocabulary,
        weights=export_weights(model),
    )
    generated, real = continue_pieces(loaded, test_shard, options)
    train_notes = [decode(piece, vocabulary) for piece in train_pieces]
    stats = continuation_stats(generated, real, IntervalNgramIndex.from_pieces(train_notes))
    log.info("continuations of %d pieces: %s", len(generated), stats)

    report = {
        "lstm": lstm,
        "baselines": baselines,
        "continuation": {
            "pieces": len(generated),
            "prime_bars": options.prime_bars,
            "sampling": {
                "temperature": options.temperature,
                "top_p": options.top_p,
                "seed": options.seed,
            },
            "generated_notes": sum(len(n) for n in generated),
            "real_notes": sum(len(n) for n in real),
            "stats": stats,
        },
        "data": {
            "train_pieces_untransposed": len(train_pieces),
            "validation_pieces": len(val_shard),
            "test_pieces": len(test_shard),
        },
    }
    (run_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, default=float) + "\n")
    (run_dir / REPORT_MD).write_text(report_markdown(report))
    plot_learning_curve(facts["history"], run_dir / CURVE_PNG)
    return report
