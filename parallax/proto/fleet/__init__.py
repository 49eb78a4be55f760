"""Generated from proto/parallax/fleet/ (``make proto``)."""
