"""The order of model versions, shared by the fleet directive, skew and "newest" rules."""

from __future__ import annotations


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key of a dotted version (the order proto/parallax/fleet/v1/fleet.proto defines).

    Parts split on "."; two numeric parts compare as numbers, otherwise as text, a number
    being lower than text; a missing part is lowest ("2.9" < "2.10" < "2.10.0").
    """
    return tuple(
        (0, int(part), "") if part.isascii() and part.isdigit() else (1, 0, part)
        for part in version.split(".")
    )
