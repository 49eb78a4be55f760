"""The reconciler: version-mismatched results and fleet skew (issue #4). Reads via ``store``.

So far: ``reconciler.policies``, the per-feature policies file (comparators,
tolerances, resolution, skew tolerances; docs/policies.md). The computation of
divergences, pair statistics, reconciled results, drift, skew and findings follows.
"""
