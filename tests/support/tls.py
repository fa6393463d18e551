"""TLS test material made by the openssl CLI, bcrypt users, and HTTPS requests from a namespace."""

import base64
import http.client
import ssl
import subprocess
from pathlib import Path

import bcrypt

from tests.support.netns import Netns


def make_certs(d: Path) -> dict[str, Path]:
    """A CA, a server cert for 127.0.0.1 and a client cert (SAN DNS:prometheus), all by openssl."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=nfxt test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth"),
                      ("other", "subjectAltName=DNS:someone-else\nextendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    run("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.crt", "-days", "2",
        "-subj", "/CN=rogue", "-addext", "subjectAltName=DNS:prometheus")  # not from our CA
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


def bcrypt_hash(password: str, rounds: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def client_context(certs: dict[str, Path], client: str | None = "client") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs["ca_crt"]))
    if client:
        ctx.load_cert_chain(str(certs[f"{client}_crt"]), str(certs[f"{client}_key"]))
    return ctx


def https_get(ns: Netns, port: int, ctx: ssl.SSLContext, path: str = "/metrics",
              auth: tuple[str, str] | None = None,
              timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTPS request from inside ``ns`` (Python's http.client over OpenSSL)."""
    def get() -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode()
        try:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            return r.status, dict(r.headers), r.read()
        finally:
            conn.close()
    return ns.call(get)
