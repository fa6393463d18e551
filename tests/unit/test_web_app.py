"""The transport-independent answers: auth before everything, routes, 404, 405, headers."""

import bcrypt

from nfacct_exporter.config.web import WebConfig
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.web.app import App, Request, Response, default
from nfacct_exporter.web.status_page import routes
from nfacct_exporter.web.tls import PLAIN, Active


def test_routes_404_and_405() -> None:
    app = default(lambda gz, om=False: b"gz" if gz else b"plain",
                  routes(lambda: StatusSink((), 1)))
    assert app.handle(Request("GET", "/metrics"), PLAIN).body == b"plain"
    got = app.handle(Request("GET", "/metrics", headers={"accept-encoding": "gzip"}), PLAIN)
    assert got.body == b"gz" and ("Content-Encoding", "gzip") in got.headers
    assert app.handle(Request("GET", "/metrics", headers={"Accept-Encoding": "gzip;q=0"}),
                      PLAIN).body == b"plain"
    assert app.handle(Request("GET", "/nope"), PLAIN).status == 404
    post = app.handle(Request("POST", "/metrics"), PLAIN)
    assert post.status == 405 and ("Allow", "GET, HEAD") in post.headers
    assert b"/metrics" in app.handle(Request("HEAD", "/"), PLAIN).body


def test_auth_comes_first_and_headers_are_added() -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4))
    web = Active.of(WebConfig(users={"alice": hashed},
                              headers=(("X-Content-Type-Options", "nosniff"),)))
    app = App({"/x": lambda req: Response(200, "text/plain", b"x")})
    for req in (Request("GET", "/x"), Request("POST", "/x"), Request("GET", "/missing")):
        got = app.handle(req, web)
        assert got.status == 401 and any(k == "WWW-Authenticate" for k, _ in got.headers)
    ok = app.handle(Request("GET", "/x", headers={"Authorization": "Basic YWxpY2U6cHc="}), web)
    assert ok.status == 200 and ("X-Content-Type-Options", "nosniff") in ok.headers
