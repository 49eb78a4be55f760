"""The reconciler: version-mismatched results and fleet skew (docs/reconciler.md).

``reconcile(con, policies, settings)`` runs once on the lake (incremental, or ``full``);
``reconciler.policies`` reads the per-feature policies file. Reads and writes the lake
only through the connection ``store`` gives it.
"""

from reconciler.run import RunReport, reconcile

__all__ = ["RunReport", "reconcile"]
