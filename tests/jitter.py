"""Output timing measured at an independent receiver (jack_midi_dump) against a grid."""

from __future__ import annotations

import time
from collections.abc import Callable

import mido
import numpy as np

from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.ports import OutputPort
from tests.jackpeers import MidiDump

LEAD_S = 0.3  # notes are all scheduled this long before the first one is due
TAIL_S = 0.1  # time for the last note to reach the receiver


def grid_deviation_ms(arrivals: dict[int, int], spacing: float, rate: int) -> dict[str, float]:
    """p50, p99 and max absolute deviation (ms) from the best-fit ideal grid.

    ``arrivals`` maps each received note's grid index to its arrival frame. The grid has
    the nominal ``spacing`` (frames); its offset is the median one, the best fit in
    absolute deviation, which a few late notes cannot drag along as they would a
    least-squares line.
    """
    index = np.asarray(list(arrivals), dtype=float)  # (notes,)
    arrival = np.asarray(list(arrivals.values()), dtype=float)  # (notes,)
    residual = arrival - index * spacing  # (notes,)
    deviation_ms = np.abs(residual - np.median(residual)) * 1000.0 / rate  # (notes,)
    return {
        "p50": float(np.percentile(deviation_ms, 50)),
        "p99": float(np.percentile(deviation_ms, 99)),
        "max": float(deviation_ms.max()),
    }


def measure_grid_jitter(
    server: JackServer,
    open_output: Callable[[str], OutputPort],
    clock_rate: float,
    notes: int = 500,
    interval_s: float = 0.01,
) -> dict[str, float]:
    """Schedule ``notes`` note-ons on a grid through ``open_output(peer)`` and measure them.

    ``clock_rate`` is the output clock's units per second (JACK frames: the sample rate;
    rtmidi: 1). Returns the deviation figures, the count of notes received, and the
    xruns jackd reported meanwhile (missed deadlines: the load, not the port, is late).
    """
    xruns_before = server.log().count("XRun")
    dump = MidiDump(server)
    with open_output(dump.port_name) as port:
        first = port.now() + LEAD_S * clock_rate
        for index in range(notes):
            # the note and velocity spell the grid index, so a lost note is not miscounted
            message = mido.Message("note_on", note=index % 128, velocity=1 + index // 128)
            port.send_at(message, first + index * interval_s * clock_rate)
        time.sleep(LEAD_S + notes * interval_s + TAIL_S)
    arrivals = {
        (data[2] - 1) * 128 + data[1]: frame for frame, data in dump.stop() if data[0] == 0x90
    }
    figures = grid_deviation_ms(arrivals, interval_s * server.rate, server.rate)
    xruns = server.log().count("XRun") - xruns_before
    return {**figures, "received": len(arrivals), "xruns": xruns}
