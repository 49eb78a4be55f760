"""Generated from proto/parallax/fleet/v1/fleet.proto (``make proto``; do not edit)."""
