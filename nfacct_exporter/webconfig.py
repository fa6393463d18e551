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

import yaml

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


class WebConfigError(Exception):
    """Problems in the web config, one per line of the message."""


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


# --- reading -------------------------------------------------------------------------------------

def _tree(node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
    """YAML node → plain values, remembering each key's line."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            key = str(k.value)
            sub = f"{path}.{key}" if path else key
            if key in out:
                raise WebConfigError(f":{k.start_mark.line + 1}: key {sub!r}: duplicate key")
            lines[sub] = k.start_mark.line + 1
            out[key] = _tree(v, sub, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_tree(v, f"{path}[{i}]", lines) for i, v in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node)


class _Errors:
    def __init__(self, path: str, lines: dict[str, int]) -> None:
        self.path, self.lines, self.list = path, lines, []

    def add(self, key: str, msg: str, value: Any = None) -> None:
        line = self.lines.get(key)
        shown = f" = {value!r}" if value is not None else ""
        self.list.append(f"{self.path}{f':{line}' if line else ''}: key {key!r}{shown}: {msg}")

    def mapping(self, data: Any, key: str, known: set[str]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.add(key or "(top level)", "expected a mapping")
            return {}
        for k in data:
            sub = f"{key}.{k}" if key else k
            if sub in UNSUPPORTED:
                self.add(sub, UNSUPPORTED[sub])
            elif k not in known:
                self.add(sub, "unknown key (known: " + ", ".join(sorted(known)) + ")")
        return {k: v for k, v in data.items() if k in known}


def load(path: str) -> WebConfig:
    """Read and check the whole file, certificates included; raise WebConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise WebConfigError(f"{path}: cannot read the web config file: {reason}") from None
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = _tree(node, "", lines) if node is not None else {}
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f":{mark.line + 1}" if mark else ""
        raise WebConfigError(f"{path}{where}: YAML syntax error: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise WebConfigError(f"{path}: YAML error: {e}") from None
    except WebConfigError as e:
        raise WebConfigError(f"{path}{e}") from None
    err = _Errors(path, lines)
    top = err.mapping(data, "", {"tls_server_config", "http_server_config", "basic_auth_users"})
    cfg = WebConfig(path=path, files=(path,))
    base = os.path.dirname(os.path.abspath(path))
    _tls(err, cfg, err.mapping(top.get("tls_server_config"), "tls_server_config", {
        "cert_file", "key_file", "client_ca_file", "client_ca", "client_auth_type",
        "client_allowed_sans", "min_version", "max_version", "prefer_server_cipher_suites"}),
        base)
    http = err.mapping(top.get("http_server_config"), "http_server_config", {"http2", "headers"})
    if not isinstance(http.get("http2", True), bool):
        err.add("http_server_config.http2", "expected true or false", http["http2"])
    cfg.headers = _headers(err, http.get("headers"))
    cfg.users = _users(err, top.get("basic_auth_users"))
    if err.list:
        raise WebConfigError("\n".join(err.list))
    return cfg


def _headers(err: _Errors, data: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in err.mapping(data, "http_server_config.headers", set(HEADERS)).items():
        key = f"http_server_config.headers.{name}"
        allowed = HEADERS[name]
        if not isinstance(value, str) or any(c in value for c in "\r\n"):
            err.add(key, "expected a one-line string", value)
        elif allowed is not None and value not in allowed:
            err.add(key, "expected one of " + ", ".join(allowed), value)
        elif value:
            out.append((name, value))
    return tuple(out)


def _users(err: _Errors, data: Any) -> dict[str, bytes] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        err.add("basic_auth_users", "expected a mapping of user name to bcrypt hash")
        return None
    hashes = {}
    for user, hashed in data.items():
        if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            err.add(f"basic_auth_users.{user}", "expected a bcrypt hash ($2y$10$… as made by "
                    "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`)")
        elif ":" in user:
            err.add(f"basic_auth_users.{user}", "a user name cannot contain ':'")
        else:
            hashes[user] = hashed.encode()
    return hashes or None


def _tls(err: _Errors, cfg: WebConfig, t: dict[str, Any], base: str) -> None:
    """Build the server SSLContext (cfg.tls) if the section asks for TLS at all."""
    if not any(t.get(k) for k in ("cert_file", "key_file", "client_ca_file", "client_ca",
                                  "client_auth_type")):
        return
    k = "tls_server_config"
    n = len(err.list)
    files = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        value = t.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            err.add(f"{k}.{name}", "expected a file name", value)
            continue
        files[name] = os.path.join(base, value)
        try:
            with open(files[name], "rb"):
                pass
        except OSError as e:
            err.add(f"{k}.{name}", f"cannot read {files[name]}: {e.strerror}", value)
    for name in ("cert_file", "key_file"):
        if not t.get(name):
            err.add(f"{k}.{name}", "required when TLS is configured")
    auth = t.get("client_auth_type") or "NoClientCert"
    if auth == "RequireAnyClientCert":
        err.add(f"{k}.client_auth_type", "accepting unverified client certificates is not "
                "supported: use RequireAndVerifyClientCert with client_ca_file", auth)
    elif auth not in CLIENT_AUTH:
        err.add(f"{k}.client_auth_type", "expected one of " + ", ".join(CLIENT_AUTH), auth)
    mode, needs_ca = CLIENT_AUTH.get(auth, (ssl.CERT_NONE, False))
    has_ca = "client_ca_file" in files or bool(t.get("client_ca"))
    if needs_ca and not has_ca:
        err.add(f"{k}.client_ca_file", f"required with client_auth_type {auth}")
    if has_ca and mode == ssl.CERT_NONE and auth in CLIENT_AUTH:
        err.add(f"{k}.client_ca_file", "requires a client_auth_type that checks certificates "
                "(RequireAndVerifyClientCert or VerifyClientCertIfGiven)")
    sans = t.get("client_allowed_sans")
    if sans is not None:
        if not isinstance(sans, list) or not all(isinstance(s, str) and s for s in sans):
            err.add(f"{k}.client_allowed_sans", "expected a list of names")
        elif mode != ssl.CERT_REQUIRED:
            err.add(f"{k}.client_allowed_sans", "requires client_auth_type "
                    "RequireAndVerifyClientCert")
        else:
            cfg.allowed_sans = tuple(sans)
    versions = []
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        v = t.get(name, default)
        if v not in TLS_VERSIONS:
            err.add(f"{k}.{name}", "expected one of " + ", ".join(TLS_VERSIONS), v)
        versions.append(TLS_VERSIONS.get(v, ssl.TLSVersion.TLSv1_2))
    if versions[0] > versions[1]:
        err.add(f"{k}.min_version", "is above max_version", t.get("min_version"))
    prefer = t.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        err.add(f"{k}.prefer_server_cipher_suites", "expected true or false", prefer)
    if len(err.list) > n:
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
        err.add(f"{k}.cert_file", f"cannot use this certificate and key_file: {_ssl_reason(e)}",
                t["cert_file"])
        return
    if has_ca:
        try:
            if "client_ca_file" in files:
                ctx.load_verify_locations(cafile=files["client_ca_file"])
            else:
                ctx.load_verify_locations(cadata=t["client_ca"])
        except (ssl.SSLError, OSError, TypeError) as e:
            key = "client_ca_file" if "client_ca_file" in files else "client_ca"
            err.add(f"{k}.{key}", f"no usable CA certificate: {_ssl_reason(e)}")
            return
    ctx.verify_mode = mode
    cfg.tls = ctx
    cfg.files = (cfg.path or "", *files.values())


def _ssl_reason(e: Exception) -> str:
    if isinstance(e, ssl.SSLError):
        return e.reason or str(e)
    return (e.strerror if isinstance(e, OSError) else None) or str(e)
