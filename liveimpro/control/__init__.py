"""The control plane: the versioned protocol, command handlers, events, the CC map,
the ZeroMQ server and the client.
"""
