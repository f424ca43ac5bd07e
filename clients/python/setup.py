"""Build hook: generate the smtpbridge.v1 protobuf and gRPC modules from the repository's proto/.

The generated code lands in src/smtpbridge/_gen/ (git-ignored) whenever setuptools loads this file,
i.e. before it validates and collects the packages, so wheels, sdists and editable installs all
carry it. An sdist already holds _gen/ and has no proto/ next to it: then nothing is regenerated.
"""
import os
import pathlib
import re

from setuptools import setup

HERE = pathlib.Path(__file__).resolve().parent
GEN = HERE / "src" / "smtpbridge" / "_gen"


def _proto_root() -> pathlib.Path:
    # SMTPBRIDGE_PROTO_DIR lets an out-of-tree build point at the contract.
    return pathlib.Path(os.environ.get("SMTPBRIDGE_PROTO_DIR", HERE.parent.parent / "proto"))


def generate() -> None:
    root = _proto_root()
    if not (root / "smtpbridge" / "v1").is_dir():
        if (GEN / "smtpbridge" / "v1" / "event_pb2.py").is_file():
            return  # an sdist: generated when it was made
        raise RuntimeError(f"smtpbridge protos not found under {root} (set SMTPBRIDGE_PROTO_DIR)")
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(root)) for p in (root / "smtpbridge" / "v1").glob("*.proto"))
    GEN.mkdir(parents=True, exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = ["grpc_tools.protoc", f"-I{root}", f"-I{well_known}", f"--python_out={GEN}",
            f"--pyi_out={GEN}", f"--grpc_python_out={GEN}", *protos]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed: " + " ".join(args))
    # protoc writes absolute imports (`from smtpbridge.v1 import event_pb2`); point them at _gen.
    for path in (GEN / "smtpbridge" / "v1").glob("*.py*"):
        text = path.read_text()
        fixed = re.sub(r"^from smtpbridge\.v1 import", "from smtpbridge._gen.smtpbridge.v1 import",
                       text, flags=re.MULTILINE)
        fixed = re.sub(r"^import smtpbridge\.v1\.", "import smtpbridge._gen.smtpbridge.v1.", fixed,
                       flags=re.MULTILINE)
        if fixed != text:
            path.write_text(fixed)
    for pkg in (GEN, GEN / "smtpbridge", GEN / "smtpbridge" / "v1"):
        (pkg / "__init__.py").touch()


generate()
setup()
