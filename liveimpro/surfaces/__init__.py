"""Control surfaces beside the daemon, speaking its control protocol: the browser panel
and the OSC bridge.
"""
