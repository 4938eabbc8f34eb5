"""Errors raised while building graphs. Each names the op and the user's source line.

Each also subclasses the built-in exceptions MegEngine raises in the same situation, so
MegEngine code's ``except`` clauses catch it: MegEngine's C++ checks raise RuntimeError,
its Python checks AssertionError (``assert``) or ValueError / TypeError, depending on
the function. A bad shape is therefore a ValueError, RuntimeError and AssertionError;
a bad dtype a TypeError, RuntimeError and AssertionError; bad data found while running
a RuntimeError.

>>> issubclass(ShapeError, (ValueError, RuntimeError, AssertionError))
True
"""


class GraphcError(Exception):
    """Base class of graphc's own errors."""


class ShapeError(GraphcError, ValueError, RuntimeError, AssertionError):
    """An op was given operands whose shapes it cannot combine."""


class DTypeError(GraphcError, TypeError, RuntimeError, AssertionError):
    """An op was given operands of a dtype it does not accept."""


class OpError(GraphcError, RuntimeError):
    """A kernel found bad data at run time (e.g. an index out of bounds)."""
