"""Errors raised while building graphs. Each names the op and the user's source line."""


class GraphcError(Exception):
    """Base class of graphc's own errors."""


class ShapeError(GraphcError, ValueError):
    """An op was given operands whose shapes it cannot combine."""


class DTypeError(GraphcError, TypeError):
    """An op was given operands of a dtype it does not accept."""


class OpError(GraphcError, RuntimeError):
    """A kernel found bad data at run time (e.g. an index out of bounds)."""
