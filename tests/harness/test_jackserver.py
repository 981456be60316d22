"""The private JACK server: pool names, and crashed servers never fill JACK's registry."""

from __future__ import annotations

import pytest

from liveimpro.harness.jackserver import REGISTRY_SLOTS, JackServer, jackd_running


@pytest.mark.jack
def test_a_second_server_takes_the_next_free_name(jack_server: JackServer) -> None:
    first, second = JackServer(prefix="liveimpro-pool"), JackServer(prefix="liveimpro-pool")
    first.start()
    try:
        second.start()
        try:
            assert (first.name, second.name) == ("liveimpro-pool-0", "liveimpro-pool-1")
            assert first.ports() and second.ports()
        finally:
            second.stop()
    finally:
        first.stop()
    assert jackd_running()  # the session's server is still up


@pytest.mark.jack
def test_more_crashed_servers_than_registry_slots_do_not_block_a_start(
    jack_server: JackServer,
) -> None:
    # A SIGKILLed jackd keeps its registry slot; with unique names, eight of them made every
    # later start fail with "Too many servers already active".
    names = set()
    for _ in range(REGISTRY_SLOTS + 2):
        server = JackServer(prefix="liveimpro-crash")
        server.start()
        names.add(server.name)
        server.kill()
    survivor = JackServer(prefix="liveimpro-crash")
    survivor.start()
    try:
        assert survivor.ports()
    finally:
        survivor.stop()
    assert names == {"liveimpro-crash-0"}
