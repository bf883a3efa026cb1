"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class JepaEdgeError(Exception):
    """Base class: the message says what was wrong and what to do."""


class CheckpointError(JepaEdgeError):
    """A checkpoint or model dir that cannot be loaded as asked."""


class ConfigError(JepaEdgeError):
    """A bad config file, flag or combination of flags."""


class BundleError(JepaEdgeError):
    """A corrupt, truncated, tampered or too-new artifact bundle."""


class DataError(JepaEdgeError):
    """Input data that is missing, empty, unreadable or of the wrong shape."""


class MissingExtraError(JepaEdgeError):
    """An optional backend is not installed."""

    def __init__(self, what: str, extra: str, hint: str = ""):
        msg = f"{what} is not installed: pip install 'jepa-edge[{extra}]'"
        super().__init__(msg + (f" ({hint})" if hint else ""))
        self.extra = extra


def import_extra(module: str, what: str, extra: str, hint: str = ""):
    """`importlib.import_module(module)`, or one line naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(what, extra, hint) from None
