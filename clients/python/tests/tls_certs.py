"""Test certificates made with openssl: two CAs, a server certificate for 127.0.0.1/localhost and
a client certificate from each CA."""
import pathlib
import shutil
import subprocess


def _run(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: pathlib.Path, name: str) -> None:
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=d)


def _leaf(d: pathlib.Path, name: str, ca: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
         "-out", f"{name}.csr", cwd=d)
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
         "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)


def make_certs(d: pathlib.Path) -> pathlib.Path:
    """ca.crt, other-ca.crt; server.{crt,key} (from ca); client.{crt,key} (ca), other-client
    (other-ca), expired-client (ca, expired); server2 (other-ca) to rotate to."""
    if shutil.which("openssl") is None:
        import pytest
        pytest.skip("openssl not installed")
    _ca(d, "ca")
    _ca(d, "other-ca")
    _leaf(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    _leaf(d, "other-client", "other-ca", "extendedKeyUsage=clientAuth\n")
    _leaf(d, "server2", "other-ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _expired(d, "expired-client", "ca")
    return d


def _expired(d: pathlib.Path, name: str, ca: str) -> None:
    """A client certificate from `ca` that expired in 2020 (`openssl ca` takes explicit dates)."""
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial.txt\n"
        "default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
    )
    (d / "index.txt").write_text("")
    (d / "serial.txt").write_text("01\n")
    (d / f"{name}.ext").write_text("extendedKeyUsage=clientAuth\n")
    _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
         "-out", f"{name}.csr", cwd=d)
    _run("ca", "-batch", "-config", "ca.cnf", "-cert", f"{ca}.crt", "-keyfile", f"{ca}.key", "-in", f"{name}.csr",
         "-out", f"{name}.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
         "-extfile", f"{name}.ext", "-notext", cwd=d)
