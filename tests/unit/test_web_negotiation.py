"""Accept-Encoding with q-values: gzip only when the client accepts it at least as much as
identity; ``gzip;q=0`` is a refusal."""

import pytest

from nfacct_exporter.web.negotiation import qvalues, wants_gzip


def test_qvalues() -> None:
    assert qvalues("gzip") == {"gzip": 1.0}
    assert qvalues(" GZip ; Q=0.5 ,identity;q=0.1") == {"gzip": 0.5, "identity": 0.1}
    assert qvalues("deflate, gzip, br, zstd") == {"deflate": 1, "gzip": 1, "br": 1, "zstd": 1}
    assert qvalues("x-gzip;q=0.3") == {"gzip": 0.3}
    assert qvalues("gzip;level=9;q=0.2") == {"gzip": 0.2}  # other parameters are ignored
    assert qvalues("gzip;q=2, br;q=-1, zstd;q=nan, deflate;q=x") == {
        "gzip": 0, "br": 0, "zstd": 0, "deflate": 0}  # malformed: refused
    assert qvalues("gzip;q=0, gzip") == {"gzip": 0}  # the first one counts
    assert qvalues("") == {} and qvalues(" , ;q=1,") == {}


@pytest.mark.parametrize(("header", "gzipped"), [
    (None, False),  # no header: identity, as always
    ("", False),  # only identity is acceptable
    ("gzip", True),
    ("GZIP", True),
    ("x-gzip", True),
    ("deflate, gzip, br, zstd", True),  # curl --compressed
    ("gzip;q=0", False),
    ("gzip; q=0.000", False),
    ("gzip;q=0.5, identity;q=0.1", True),
    ("gzip;q=0.1, identity;q=0.5", False),
    ("gzip;q=0.5, identity;q=0.5", True),  # a tie: gzip
    ("gzip;q=0.001", True),  # identity not named: acceptable, never preferred
    ("identity", False),
    ("br, deflate", False),
    ("*", True),
    ("*;q=0", False),
    ("*;q=0, identity", False),
    ("*;q=0.5, identity;q=1", False),
    ("identity;q=0, *", True),
    ("gzip;q=nonsense", False),
])
def test_wants_gzip(header: str | None, gzipped: bool) -> None:
    assert wants_gzip(header) is gzipped
