"""``liveimpro panel``: the running daemon shown and steered from a web page."""
