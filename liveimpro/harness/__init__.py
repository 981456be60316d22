"""Tooling that drives liveimpro from outside: the demo, the benchmarks, private JACK
servers and independent JACK peers. ``liveimpro run`` never imports it.
"""
