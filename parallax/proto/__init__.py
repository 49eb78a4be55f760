"""Generated protobuf/gRPC code of Parallax's own wire contract (``make proto``; do not edit).

Sources are in ``proto/``: ``proto/parallax/fleet/v1/fleet.proto`` is generated here as
``parallax.proto.fleet.v1.fleet_pb2`` and ``fleet_pb2_grpc``.
"""
