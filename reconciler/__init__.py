"""The reconciler: version-mismatched results and fleet skew (docs/reconciler.md).

``reconcile(con, policies, settings)`` runs once on the lake (incremental, or ``full``);
``ReconcilerLoop`` runs it on an interval inside ``parallax server``;
``configured_policies`` reads the per-feature policies file. Reads and writes the lake
only through the connection ``store`` gives it.
"""

from reconciler.loop import ReconcilerLoop
from reconciler.policies import configured_policies
from reconciler.run import RunReport, reconcile

__all__ = ["ReconcilerLoop", "RunReport", "configured_policies", "reconcile"]
