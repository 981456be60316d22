"""liveimpro: a real-time MIDI improviser. ``liveimpro.Client`` controls a running daemon."""

__all__ = ["Client"]


def __getattr__(name: str) -> object:
    if name == "Client":  # imported on first use: most commands never need ZeroMQ
        from liveimpro.control.client import Client

        return Client
    raise AttributeError(f"module 'liveimpro' has no attribute {name!r}")
