"""Notes and their language: the token vocabulary, keys and scales, note statistics, and
MIDI's number ranges.

Imports nothing else of liveimpro but errors.
"""
