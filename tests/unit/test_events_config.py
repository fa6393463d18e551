"""The ``events`` option of an NFLOG group: accepted shapes, and one error line per problem."""

import socket

import pytest

from nfacct_exporter import config
from nfacct_exporter.config.events import Events


def group(events: str) -> str:
    return "nflog:\n  - group: 1\n    verdict: accept\n    events:\n" + events


@pytest.mark.parametrize("text, want", [
    ("      file: /var/log/e.json\n", Events(file="/var/log/e.json", dvc=socket.gethostname())),
    ("      stdout: true\n      format: ecs\n", Events(stdout=True, format="ecs",
                                                       dvc=socket.gethostname())),
    ("      socket: tcp://[::1]:5044\n      dvc: My awesome FW\n",
     Events(socket="tcp://[::1]:5044", dvc="My awesome FW")),
    ("      socket: unix:/run/ls.sock\n      stdout: false\n",
     Events(socket="unix:/run/ls.sock", dvc=socket.gethostname())),
])
def test_events_shapes(text: str, want: Events) -> None:
    (g,) = config.from_text(group(text), "c.yaml").nflog
    assert g.events == want


def test_no_events_is_counting_only() -> None:
    (g,) = config.from_text("nflog:\n  - group: 1\n", "c.yaml").nflog
    assert g.events is None


@pytest.mark.parametrize("text, error", [
    ("      file: /a\n      stdout: true\n", "needs exactly one of file: PATH, stdout: true"),
    ("      format: ulogd\n", "needs exactly one of"),
    ("      socket: udp://h:1\n", "expected tcp://HOST:PORT or unix:PATH"),
    ("      socket: tcp://h\n", "expected tcp://HOST:PORT"),
    ("      file: /a\n      format: xml\n", "expected one of ulogd, ecs"),
    ("      file: /a\n      dvc: ''\n", "expected a non-empty string"),
    ("      file: /a\n      sync: 1\n", "unknown key (known: file, stdout, socket, format, dvc)"),
])
def test_events_errors(text: str, error: str) -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_text(group(text), "c.yaml")
    assert len(str(e.value).splitlines()) == 1 and error in str(e.value)
    assert str(e.value).startswith("c.yaml:")
