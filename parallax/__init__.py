"""Parallax: observability and divergence reconciliation for AI inference on edge fleets.

This package is the shared kernel: configuration, the semantic conventions, errors and
the generated proto stubs. It imports no other Parallax package; the components
(``collector``, ``store``, ``reconciler``, ``dashboard``, ``parallax_sdk``) import it, and
``launch`` wires them into the ``parallax`` command and its processes.
"""

__version__ = "0.1.0"
