"""The edge collector: local OTLP receiver, durable compressed buffer, shipper, heartbeat."""
