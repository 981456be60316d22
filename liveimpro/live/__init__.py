"""The live policy: the clock and its sync, phrase capture, the improviser's state machine,
the response scheduler and takes.
"""
