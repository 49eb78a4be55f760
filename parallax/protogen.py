"""Regenerate the protobuf/gRPC Python code from the .proto sources (``make proto``).

Generation is reproducible: the same grpcio-tools version gives byte-identical output,
and tests/test_generated_code.py fails when a committed file is stale.
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
    out_dir: Path
    grpc: bool


TARGETS = [
    ProtoTarget(ROOT / "store" / "ingest", "otlp_lean.proto", ROOT / "store" / "ingest", False),
]


def generate(target: ProtoTarget, out_dir: Path) -> list[Path]:
    """Run protoc for one target into out_dir; return the files written."""
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    args = ["protoc", f"-I{target.include_dir}", f"--python_out={out_dir}"]
    if target.grpc:
        args.append(f"--grpc_python_out={out_dir}")
    if protoc.main([*args, target.proto]) != 0:
        raise RuntimeError(f"protoc failed for {target.proto}")
    return sorted(p for p in out_dir.rglob("*_pb2*.py"))


def stale_files() -> list[str]:
    """Generated files that differ from what the .proto sources produce now."""
    stale = []
    for target in TARGETS:
        with tempfile.TemporaryDirectory() as tmp:
            for fresh in generate(target, Path(tmp)):
                committed = target.out_dir / fresh.relative_to(tmp)
                if not committed.exists() or committed.read_bytes() != fresh.read_bytes():
                    stale.append(str(committed.relative_to(ROOT)))
    return stale


def main() -> int:
    for target in TARGETS:
        target.out_dir.mkdir(parents=True, exist_ok=True)
        for path in generate(target, target.out_dir):
            print(f"generated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
