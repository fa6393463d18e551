"""Generated and mutated YAML documents never produce a traceback: ``config.from_text`` and
``config.web.load`` either accept them or raise ConfigError, nothing else."""

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfacct_exporter import config
from nfacct_exporter.config import web
from tests.support import wire
from tests.support.tls import make_certs

EXAMPLE = (Path(__file__).parents[2] / "config.example.yaml").read_text()
FUZZ = settings(max_examples=wire.examples(200), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

KEYS = ["pollinterval", "prometheus", "listen", "graphite", "host", "port", "prefix", "mode",
        "timeout", "backlog_memcap", "flush_grace", "tags", "nflog_prefix", "nft_prefix",
        "labels", "match", "match_type", "parts", "counters", "name", "quota", "packets",
        "bytes", "family", "protocol", "sport", "dport", "direction", "nflog", "group",
        "verdict", "prefix_verdicts", "max_prefixes", "rcvbuf", "qthreshold", "qtimeout",
        "netns", "namespaces", "path", "label", "nft_counters"]
WEB_KEYS = ["tls_server_config", "cert_file", "key_file", "client_ca_file", "client_ca",
            "client_auth_type", "client_allowed_sans", "min_version", "max_version",
            "prefer_server_cipher_suites", "http_server_config", "http2", "headers",
            "basic_auth_users", "Strict-Transport-Security", "X-Frame-Options",
            "RequireAndVerifyClientCert", "TLS13", "bob"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=20),
    st.sampled_from(["total", "delta", "accept", "drop", ":9849", "[::1]:0", "^(?P<a>x)",
                     "(", "ipv4", "tcp", "$2y$10$" + "a" * 53, "/nonexistent", ".", "\0",
                     "a" * 40, "x.y..z", "*", "1e400", "-0", "0x10"]))


def documents(keys: list[str]) -> st.SearchStrategy:
    """Mappings and lists of plausible keys and values, nested a few levels."""
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(keys), SCALARS.filter(
            lambda k: k is not None and not isinstance(k, float))), inner, max_size=5)),
        max_leaves=25)


def mutated(text: str) -> st.SearchStrategy[str]:
    """``text`` with a few edits: slices deleted or duplicated, YAML punctuation inserted."""
    edit = st.tuples(st.integers(0, len(text)), st.integers(0, 40), st.sampled_from(
        ["", "DUP", ":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!binary ", "!!python/object ",
         "\t", "\n  ", "'", '"', "#", "? ", "|", ">", "%", "@", "\0", "\ufeff", "...\n", "---\n"]))

    def apply(edits: list[tuple[int, int, str]]) -> str:
        out = text
        for at, cut, ins in edits:
            at = min(at, len(out))
            if ins == "DUP":
                out = out[:at] + out[at : at + cut] + out[at:]
            else:  # "": the slice deleted; else inserted
                out = out[:at] + ins + out[at + (0 if ins else cut) :]
        return out

    return st.lists(edit, min_size=1, max_size=6).map(apply)


def accepted_or_config_error(call) -> None:  # noqa: ANN001
    try:
        call()
    except config.ConfigError as e:
        assert str(e)


HOSTILE = ["[" * 5000 + "]" * 5000, "a: &a [*a]", "a: !!python/object:os.system x",
           "&a [" * 50 + "]" * 50, "\ufeffpollinterval: 1", "? [a]\n: b", "x: !!binary '%%'",
           "pollinterval: !!float nan", "graphite: {port: !!int 99999999999999999999}",
           "labels: [{match: '(?P<a>' }]", "nflog: [{group: 1e9}]", "\x00", "---\n---\n"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_documents(text: str, tmp_path: Path) -> None:
    accepted_or_config_error(lambda: config.from_text(text))
    p = tmp_path / "web.yml"
    p.write_text(text)
    accepted_or_config_error(lambda: web.load(str(p)))


@FUZZ
@given(documents(KEYS))
def test_generated_configs(doc: object) -> None:
    accepted_or_config_error(lambda: config.from_text(yaml.safe_dump(doc)))


@FUZZ
@given(mutated(EXAMPLE))
def test_mutated_example_config(text: str) -> None:
    accepted_or_config_error(lambda: config.from_text(text))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@FUZZ
@given(doc=documents(WEB_KEYS), text=st.data())
def test_generated_and_mutated_web_configs(doc: object, text: st.DataObject,
                                           certs: dict[str, Path], tmp_path: Path) -> None:
    good = (f"tls_server_config:\n  cert_file: {certs['server_crt']}\n"
            f"  key_file: {certs['server_key']}\n  client_ca_file: {certs['ca_crt']}\n"
            "  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [a]\n"
            "http_server_config:\n  headers: {X-Frame-Options: deny}\n")
    p = tmp_path / "web.yml"
    for body in (yaml.safe_dump(doc), text.draw(mutated(good))):
        p.write_text(body)
        accepted_or_config_error(lambda: web.load(str(p)))
