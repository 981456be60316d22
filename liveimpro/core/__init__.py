"""The model and what runs it: model spec and files, engine, sampling, adaptation,
input style, priming and continuation.

No MIDI ports, no clock, never mido or Keras at run time (Keras only to train and export).
"""
