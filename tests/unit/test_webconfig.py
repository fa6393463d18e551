"""--web.config.file parsing: the exporter-toolkit format, one clear line per problem (file, line,
key), bcrypt users, and ``--check`` covering the web config."""

import errno
import shutil
import ssl
from pathlib import Path

import pytest

from nfacct_exporter import cli, config, problems
from nfacct_exporter.config import web as webconfig
from nfacct_exporter.web.auth import Users
from tests.support.tls import bcrypt_hash, make_certs

needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


def load(tmp_path: Path, text: str) -> webconfig.WebConfig:
    p = tmp_path / "web.yml"
    p.write_text(text)
    return webconfig.load(str(p))


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(config.ConfigError) as e:
        load(tmp_path, text)
    prefix = f"{tmp_path / 'web.yml'}"
    lines = str(e.value).splitlines()
    assert all(line.startswith(prefix) for line in lines), lines
    return [line[len(prefix):] for line in lines]


@needs_openssl
def test_full_config(tmp_path: Path, certs: dict[str, Path]) -> None:
    cfg = load(tmp_path, f"""\
tls_server_config:
  cert_file: {certs['server_crt']}
  key_file: {certs['server_key']}
  client_ca_file: {certs['ca_crt']}
  client_auth_type: RequireAndVerifyClientCert
  client_allowed_sans: [prometheus, 10.0.0.1]
  min_version: TLS13
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Content-Security-Policy: "default-src 'none'"
basic_auth_users:
  alice: '{bcrypt_hash("pw")}'
""")
    assert cfg.tls is not None and cfg.tls.verify_mode == ssl.CERT_REQUIRED
    assert cfg.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    assert cfg.headers == (("X-Frame-Options", "deny"),
                           ("Content-Security-Policy", "default-src 'none'"))
    assert cfg.users is not None and Users(cfg.users).check("alice", "pw")
    assert len(cfg.files) == 4  # the file itself, cert, key, CA: watched for rotation
    assert cfg.san_allowed({"subjectAltName": (("DNS", "prometheus"),)})
    assert cfg.san_allowed({"subjectAltName": (("IP Address", "10.0.0.1\n"),)})
    assert not cfg.san_allowed({"subjectAltName": (("DNS", "other"),)})


@needs_openssl
def test_relative_paths_are_relative_to_the_file(tmp_path: Path, certs: dict[str, Path]) -> None:
    d = certs["ca_crt"].parent
    cfg = load(d, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    assert cfg.tls is not None and cfg.tls.verify_mode == ssl.CERT_NONE


def test_no_tls_only_auth(tmp_path: Path) -> None:
    cfg = load(tmp_path, f"basic_auth_users:\n  bob: '{bcrypt_hash('x')}'\n")
    assert cfg.tls is None and cfg.users is not None
    assert load(tmp_path, "").users is None  # an empty file: plain HTTP, no auth


@needs_openssl
def test_problems_one_line_each(tmp_path: Path, certs: dict[str, Path]) -> None:
    got = errors(tmp_path, f"""\
tls_server_config:
  cert_file: {certs['server_crt']}
  key_file: {certs['client_key']}
  client_ca_file: {certs['ca_crt']}
  cipher_suites: [TLS_AES_128_GCM_SHA256]
  min_version: TLS14
http_server_config:
  headers:
    X-Frame-Options: allow
    X-Powered-By: me
basic_auth_users:
  carol: plaintext
rate_limit: {{interval: 1s}}
extra: 1
""")
    assert got == [
        ":13: key 'rate_limit': not supported by nfacct-exporter",
        ":14: key 'extra': unknown key (known: basic_auth_users, http_server_config, "
        "tls_server_config)",
        ":5: key 'tls_server_config.cipher_suites': Go cipher suite names are not supported "
        "(OpenSSL's defaults apply)",
        ":4: key 'tls_server_config.client_ca_file': requires a client_auth_type that checks "
        "certificates (RequireAndVerifyClientCert or VerifyClientCertIfGiven)",
        ":6: key 'tls_server_config.min_version' = 'TLS14': expected one of TLS10, TLS11, "
        "TLS12, TLS13",
        ":10: key 'http_server_config.headers.X-Powered-By': unknown key (known: "
        "Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
        "X-Frame-Options, X-XSS-Protection)",
        ":9: key 'http_server_config.headers.X-Frame-Options' = 'allow': expected one of "
        "deny, sameorigin",
        ":12: key 'basic_auth_users.carol': expected a bcrypt hash ($2y$10$… as made by "
        "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
    ], got


@needs_openssl
def test_tls_problems(tmp_path: Path, certs: dict[str, Path]) -> None:
    c, k, ca = certs["server_crt"], certs["server_key"], certs["ca_crt"]
    assert errors(tmp_path, f"tls_server_config:\n  cert_file: {c}\n") == [
        ": key 'tls_server_config.key_file': required when TLS is configured"]
    assert errors(tmp_path, f"tls_server_config:\n  cert_file: {c}\n  key_file: "
                            f"{certs['client_key']}\n")[0].startswith(
        f":2: key 'tls_server_config.cert_file' = '{c}': cannot use this certificate and "
        "key_file: KEY_VALUES_MISMATCH")
    base = f"tls_server_config:\n  cert_file: {c}\n  key_file: {k}\n"
    assert errors(tmp_path, base + "  client_auth_type: RequireAndVerifyClientCert\n") == [
        ": key 'tls_server_config.client_ca_file': required with client_auth_type "
        "RequireAndVerifyClientCert"]
    assert errors(tmp_path, base + "  client_auth_type: RequireAnyClientCert\n")[0].startswith(
        ":4: key 'tls_server_config.client_auth_type' = 'RequireAnyClientCert': accepting "
        "unverified client certificates is not supported")
    assert errors(tmp_path, base + f"  client_ca_file: {ca}\n  client_auth_type: "
                  "VerifyClientCertIfGiven\n  client_allowed_sans: [x]\n") == [
        ":6: key 'tls_server_config.client_allowed_sans': requires client_auth_type "
        "RequireAndVerifyClientCert"]
    assert errors(tmp_path, base + "  min_version: TLS13\n  max_version: TLS12\n") == [
        ":4: key 'tls_server_config.min_version' = 'TLS13': is above max_version"]
    assert errors(tmp_path, base + f"  client_ca_file: {certs['server_key']}\n  "
                  "client_auth_type: VerifyClientCertIfGiven\n")[0].startswith(
        ":4: key 'tls_server_config.client_ca_file': no usable CA certificate")


def test_yaml_problems(tmp_path: Path) -> None:
    assert errors(tmp_path, "tls_server_config:\n  cert_file: [\n") == [
        ":3: YAML syntax error: expected the node content, but found '<stream end>'"]
    assert errors(tmp_path, "basic_auth_users: {}\nbasic_auth_users: {}\n") == [
        ":2: key 'basic_auth_users': duplicate key"]
    with pytest.raises(config.ConfigError, match="cannot read the web config file"):
        webconfig.load(str(tmp_path / "missing.yml"))


def test_check_flag_covers_the_web_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  u: '{bcrypt_hash('p')}'\n")
    assert cli.main(["--check", "--web.config.file", str(web)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"nfacct-exporter: {web}: web configuration OK")
    web.write_text("basic_auth_users:\n  u: nope\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pollinterval: 0\n")
    assert cli.main(["--check", "--config", str(cfg), "--web.config.file", str(web)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "pollinterval" in err[0] and "basic_auth_users.u" in err[1], err


def test_netlink_problem_lines() -> None:
    def line(code: int, netns: str | None = None, msg: str = "") -> str:
        return problems.netlink_problem(OSError(code, msg or "x"), netns)
    assert "CAP_NET_ADMIN is required" in line(errno.EPERM)
    assert "load nfnetlink_acct" in line(errno.EPROTONOSUPPORT)
    # nfnetlink present, nfnetlink_acct absent: the kernel answers EINVAL for the subsystem
    assert "is nfnetlink_acct loaded?" in line(errno.EINVAL)
    assert "CAP_SYS_ADMIN" in line(errno.EPERM, "blue", "setns: Operation not permitted")
    assert "does not exist" in line(errno.ENOENT, "blue")
