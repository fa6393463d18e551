"""``--web.config.file``: TLS, basic auth and headers in the Prometheus exporter-toolkit format.

The same file an operator writes for node_exporter works here (see README for the few toolkit
keys Python's ``ssl`` cannot honour; those are refused by name, never silently ignored). Every
problem is one line naming the file, the line and the key. Relative file names are relative to
the web config's directory, as in the toolkit.
"""

import ipaddress
import os
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

from nfacct_exporter.config import loader
from nfacct_exporter.config.checks import MISSING, Reader, anything

TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# toolkit name → (verify mode, needs a client CA); RequestClientCert never checks what it gets,
# so not asking at all grants exactly the same access.
CLIENT_AUTH = {"NoClientCert": (ssl.CERT_NONE, False), "RequestClientCert": (ssl.CERT_NONE, False),
               "VerifyClientCertIfGiven": (ssl.CERT_OPTIONAL, True),
               "RequireAndVerifyClientCert": (ssl.CERT_REQUIRED, True)}
# headers the toolkit allows, with the values it allows (None: any)
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None, "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"), "X-XSS-Protection": None,
    "Content-Security-Policy": None}
UNSUPPORTED = {
    "tls_server_config.cert": "inline PEM is not supported: use cert_file",
    "tls_server_config.key": "inline PEM is not supported: use key_file",
    "tls_server_config.cipher_suites": "Go cipher suite names are not supported (OpenSSL's "
                                       "defaults apply)",
    "tls_server_config.curve_preferences": "not supported (OpenSSL's defaults apply)",
    "rate_limit": "not supported by nfacct-exporter",
}
_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")


@dataclass
class WebConfig:
    path: str | None = None
    tls: ssl.SSLContext | None = None
    allowed_sans: tuple[str, ...] = ()
    users: dict[str, bytes] | None = None  # user → bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = field(default=())  # files whose change means "re-read me"

    def san_allowed(self, cert: dict[str, Any]) -> bool:
        """client_allowed_sans: the verified client cert names one of them (DNS, IP, email, URI)."""
        if not self.allowed_sans:
            return True
        names = set()
        for kind, value in cert.get("subjectAltName", ()):
            names.add(_normal(value.strip()) if kind == "IP Address" else value)
        return any(_normal(a) in names for a in self.allowed_sans)


def _normal(san: str) -> str:
    try:
        return str(ipaddress.ip_address(san))
    except ValueError:
        return san


def _mapping(r: Reader, data: Any, key: str, known: set[str]) -> dict[str, Any]:
    """The known keys of a mapping (absent = empty); unknown and unsupported ones reported."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        r.error(key or "(top level)", MISSING, "expected a mapping")
        return {}
    return r.section(data, key, dict.fromkeys(sorted(known), anything), UNSUPPORTED)


def _shown(v: Any) -> Any:
    """An absent value is not shown in the error line."""
    return MISSING if v is None else v


def load(path: str) -> WebConfig:
    """Read and check the whole file, certificates included; raise ConfigError."""
    data, lines = loader.parse(loader.read(path, "web config file"), path)
    r = Reader(path, lines)
    top = _mapping(r, data, "", {"tls_server_config", "http_server_config", "basic_auth_users"})
    cfg = WebConfig(path=path, files=(path,))
    base = os.path.dirname(os.path.abspath(path))
    _tls(r, cfg, _mapping(r, top.get("tls_server_config"), "tls_server_config", {
        "cert_file", "key_file", "client_ca_file", "client_ca", "client_auth_type",
        "client_allowed_sans", "min_version", "max_version", "prefer_server_cipher_suites"}),
        base)
    http = _mapping(r, top.get("http_server_config"), "http_server_config", {"http2", "headers"})
    if not isinstance(http.get("http2", True), bool):
        r.error("http_server_config.http2", _shown(http["http2"]), "expected true or false")
    cfg.headers = _headers(r, http.get("headers"))
    cfg.users = _users(r, top.get("basic_auth_users"))
    r.done()
    return cfg


def _headers(r: Reader, data: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in _mapping(r, data, "http_server_config.headers", set(HEADERS)).items():
        key = f"http_server_config.headers.{name}"
        allowed = HEADERS[name]
        if not isinstance(value, str) or any(c in value for c in "\r\n"):
            r.error(key, _shown(value), "expected a one-line string")
        elif allowed is not None and value not in allowed:
            r.error(key, _shown(value), "expected one of " + ", ".join(allowed))
        elif value:
            out.append((name, value))
    return tuple(out)


def _users(r: Reader, data: Any) -> dict[str, bytes] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        r.error("basic_auth_users", MISSING, "expected a mapping of user name to bcrypt hash")
        return None
    hashes = {}
    for name, hashed in data.items():
        user = str(name)
        if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            r.error(f"basic_auth_users.{user}", MISSING, "expected a bcrypt hash ($2y$10$… as "
                    "made by `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)")
        elif ":" in user:
            r.error(f"basic_auth_users.{user}", MISSING, "a user name cannot contain ':'")
        else:
            hashes[user] = hashed.encode()
    return hashes or None


def _tls(r: Reader, cfg: WebConfig, t: dict[str, Any], base: str) -> None:
    """Build the server SSLContext (cfg.tls) if the section asks for TLS at all."""
    if not any(t.get(k) for k in ("cert_file", "key_file", "client_ca_file", "client_ca",
                                  "client_auth_type")):
        return
    k = "tls_server_config"
    n = len(r.errors)
    files = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        value = t.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            r.error(f"{k}.{name}", value, "expected a file name")
            continue
        files[name] = os.path.join(base, value)
        try:
            with open(files[name], "rb"):
                pass
        except OSError as e:
            r.error(f"{k}.{name}", value, f"cannot read {files[name]}: {e.strerror}")
    for name in ("cert_file", "key_file"):
        if not t.get(name):
            r.error(f"{k}.{name}", MISSING, "required when TLS is configured")
    auth = t.get("client_auth_type") or "NoClientCert"
    if auth == "RequireAnyClientCert":
        r.error(f"{k}.client_auth_type", auth, "accepting unverified client certificates is "
                "not supported: use RequireAndVerifyClientCert with client_ca_file")
    elif auth not in CLIENT_AUTH:
        r.error(f"{k}.client_auth_type", auth, "expected one of " + ", ".join(CLIENT_AUTH))
    mode, needs_ca = CLIENT_AUTH.get(auth, (ssl.CERT_NONE, False))
    has_ca = "client_ca_file" in files or bool(t.get("client_ca"))
    if needs_ca and not has_ca:
        r.error(f"{k}.client_ca_file", MISSING, f"required with client_auth_type {auth}")
    if has_ca and mode == ssl.CERT_NONE and auth in CLIENT_AUTH:
        r.error(f"{k}.client_ca_file", MISSING, "requires a client_auth_type that checks "
                "certificates (RequireAndVerifyClientCert or VerifyClientCertIfGiven)")
    sans = t.get("client_allowed_sans")
    if sans is not None:
        if not isinstance(sans, list) or not all(isinstance(s, str) and s for s in sans):
            r.error(f"{k}.client_allowed_sans", MISSING, "expected a list of names")
        elif mode != ssl.CERT_REQUIRED:
            r.error(f"{k}.client_allowed_sans", MISSING, "requires client_auth_type "
                    "RequireAndVerifyClientCert")
        else:
            cfg.allowed_sans = tuple(sans)
    versions = []
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        v = t.get(name, default)
        if v not in TLS_VERSIONS:
            r.error(f"{k}.{name}", _shown(v), "expected one of " + ", ".join(TLS_VERSIONS))
        versions.append(TLS_VERSIONS.get(v, ssl.TLSVersion.TLSv1_2))
    if versions[0] > versions[1]:
        r.error(f"{k}.min_version", _shown(t.get("min_version")), "is above max_version")
    prefer = t.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        r.error(f"{k}.prefer_server_cipher_suites", _shown(prefer), "expected true or false")
    if len(r.errors) > n:
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version, ctx.maximum_version = versions
    if prefer:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.load_cert_chain(files["cert_file"], files["key_file"])
    except (ssl.SSLError, OSError) as e:
        r.error(f"{k}.cert_file", t["cert_file"],
                f"cannot use this certificate and key_file: {_ssl_reason(e)}")
        return
    if has_ca:
        try:
            if "client_ca_file" in files:
                ctx.load_verify_locations(cafile=files["client_ca_file"])
            else:
                ctx.load_verify_locations(cadata=t["client_ca"])
        except (ssl.SSLError, OSError, TypeError) as e:
            key = "client_ca_file" if "client_ca_file" in files else "client_ca"
            r.error(f"{k}.{key}", MISSING, f"no usable CA certificate: {_ssl_reason(e)}")
            return
    ctx.verify_mode = mode
    cfg.tls = ctx
    cfg.files = (cfg.path or "", *files.values())


def _ssl_reason(e: Exception) -> str:
    if isinstance(e, ssl.SSLError):
        return e.reason or str(e)
    return (e.strerror if isinstance(e, OSError) else None) or str(e)
