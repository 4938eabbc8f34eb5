"""The runtime: compile a pending graph into a Program (``compiler``), run it
(``program``), describe it (``explain``); threading set-up in ``threads``."""
