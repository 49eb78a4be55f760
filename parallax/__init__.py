"""Parallax: observability and divergence reconciliation for AI inference on edge fleets.

This package is the shared kernel: the ``parallax`` command, configuration and the
semantic conventions. Components (``collector``, ``store``, ``reconciler``,
``dashboard``) import it and never each other's internals.
"""

__version__ = "0.1.0"
