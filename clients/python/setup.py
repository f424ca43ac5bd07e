"""Build hook: the smtpbridge.v1 protobuf and gRPC modules are generated from the repository's
proto/ into the build output, never into the source tree.

- wheel from the repository: build_py writes them to <build_lib>/smtpbridge/_gen/.
- sdist: make_release_tree writes them into the sdist's own src/smtpbridge/_gen/, so the sdist is
  self-contained; a wheel built from it (no proto/ beside it) packages those files as they are.

SMTPBRIDGE_PROTO_DIR points at another proto/ tree (default: ../../proto from this file).
"""
import os
import pathlib
import re

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

HERE = pathlib.Path(__file__).resolve().parent


def _proto_root():
    root = pathlib.Path(os.environ.get("SMTPBRIDGE_PROTO_DIR", HERE.parent.parent / "proto"))
    return root if (root / "smtpbridge" / "v1").is_dir() else None


def generate(root: pathlib.Path, gen: pathlib.Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(root)) for p in (root / "smtpbridge" / "v1").glob("*.proto"))
    gen.mkdir(parents=True, exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = ["grpc_tools.protoc", f"-I{root}", f"-I{well_known}", f"--python_out={gen}",
            f"--pyi_out={gen}", f"--grpc_python_out={gen}", *protos]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed: " + " ".join(args))
    # protoc writes absolute imports (`from smtpbridge.v1 import event_pb2`); point them at _gen.
    for path in (gen / "smtpbridge" / "v1").glob("*.py*"):
        text = path.read_text()
        fixed = re.sub(r"^from smtpbridge\.v1 import", "from smtpbridge._gen.smtpbridge.v1 import",
                       text, flags=re.MULTILINE)
        fixed = re.sub(r"^import smtpbridge\.v1\.", "import smtpbridge._gen.smtpbridge.v1.", fixed,
                       flags=re.MULTILINE)
        if fixed != text:
            path.write_text(fixed)
    for pkg in (gen, gen / "smtpbridge", gen / "smtpbridge" / "v1"):
        (pkg / "__init__.py").touch()


class build_py(_build_py):
    def run(self):
        super().run()
        root = _proto_root()
        bundled = HERE / "src" / "smtpbridge" / "_gen" / "smtpbridge" / "v1" / "event_pb2.py"
        if root is not None:
            generate(root, pathlib.Path(self.build_lib) / "smtpbridge" / "_gen")
        elif not bundled.is_file():  # neither the repository's proto/ nor an sdist's generated code
            raise RuntimeError("smtpbridge protos not found: build from the repository, from the "
                               "sdist, or set SMTPBRIDGE_PROTO_DIR to a proto/ tree")


class sdist(_sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = _proto_root()
        if root is None:
            raise RuntimeError("an sdist is made from the repository (proto/ not found)")
        generate(root, pathlib.Path(base_dir) / "src" / "smtpbridge" / "_gen")


setup(cmdclass={"build_py": build_py, "sdist": sdist})
