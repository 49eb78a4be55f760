"""The reconciler: version-mismatched results and fleet skew (issue #4). Reads via ``store``."""
