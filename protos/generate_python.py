"""Generate the Python gRPC code of `protos/dra/v1/*.proto` into `services/common/dra/v1/`.

The one way stubs are made (`make protos`, Docker builds, CI); the output is gitignored, never edited.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "services" / "common"


def main() -> int:
    """Compile every proto; the package `dra.v1` gets `__init__.py` files so it imports normally."""
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "dra").rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={OUT}",
        f"--pyi_out={OUT}",
        f"--grpc_python_out={OUT}",
        *files,
    ]
    code = protoc.main(args)
    if code != 0:
        return code
    for package in (OUT / "dra", OUT / "dra" / "v1"):
        (package / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
