"""Notes and their language: the token vocabulary, keys and scales, note statistics.

Imports nothing else of liveimpro but errors.
"""
