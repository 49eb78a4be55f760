"""The reconciler: version-mismatched results and fleet skew (docs/reconciler.md).

``reconcile(lake, policies, settings)`` runs once on the lake (incremental, or ``full``);
``ReconcilerLoop`` runs it on an interval inside ``parallax server``;
``configured_policies`` reads the per-feature policies file. Reads and writes the lake
only through ``store``: it writes through a ``store.WriterLake``.
"""

from reconciler.loop import ReconcilerLoop
from reconciler.policy_file import configured_policies
from reconciler.run import RunReport, reconcile

__all__ = ["ReconcilerLoop", "RunReport", "configured_policies", "reconcile"]
