"""Regenerate the protobuf/gRPC Python code from the .proto sources (``make proto``).

Generation is reproducible: the same grpcio-tools version gives byte-identical output,
and tests/test_generated_code.py fails when a committed file is stale.

A target with a ``package`` is generated as if its .proto lived in that Python package
(protoc's ``-I<virtual>=<dir>`` mapping), because generated ``*_pb2_grpc.py`` modules import
their ``*_pb2`` by the .proto's path: ``proto/parallax/fleet/v1/fleet.proto`` becomes
``parallax/proto/fleet/v1/fleet_pb2.py``, imported as ``parallax.proto.fleet.v1.fleet_pb2``.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ProtoTarget:
    include_dir: Path
    proto: str  # relative to include_dir
    out_dir: Path  # with a package: the directory the package path starts from
    grpc: bool
    package: str = ""  # e.g. "parallax/proto": generate as if the .proto lived there


TARGETS = [
    ProtoTarget(ROOT / "store" / "ingest", "otlp_lean.proto", ROOT / "store" / "ingest", False),
    ProtoTarget(ROOT / "proto" / "parallax", "fleet/v1/fleet.proto", ROOT, True, "parallax/proto"),
]


def generate(target: ProtoTarget) -> dict[Path, bytes]:
    """Run protoc for one target; return each generated file's content by its path in out_dir."""
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    with tempfile.TemporaryDirectory() as tmp:
        include, proto = f"-I{target.include_dir}", target.proto
        if target.package:
            include, proto = f"-I{target.package}={target.include_dir}", f"{target.package}/{proto}"
        args = ["protoc", include, f"--python_out={tmp}"]
        if target.grpc:
            args.append(f"--grpc_python_out={tmp}")
        if protoc.main([*args, proto]) != 0:
            raise RuntimeError(f"protoc failed for {target.proto}")
        return {p.relative_to(tmp): p.read_bytes() for p in sorted(Path(tmp).rglob("*_pb2*.py"))}


def stale_files() -> list[str]:
    """Generated files that differ from what the .proto sources produce now."""
    stale = []
    for target in TARGETS:
        for relative, fresh in generate(target).items():
            committed = target.out_dir / relative
            if not committed.exists() or committed.read_bytes() != fresh:
                stale.append(str(committed.relative_to(ROOT)))
    return stale


def main() -> int:
    for target in TARGETS:
        for relative, content in generate(target).items():
            path = target.out_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            print(f"generated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
