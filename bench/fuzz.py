"""Coverage-guided fuzzing of every decoder of bytes we did not write (``make fuzz``).

atheris (libFuzzer) drives the shapes of ``tests/support/wire.py`` plus raw bytes and raw text:
kernel datagrams through the NFACCT, nft, NFLOG and conntrack decoders, netlink ACKs, the
socket's dump and ACK loops, the fast decoders against the declared pyroute2 messages on valid
input, and the main and web config parsers. Any exception but ConfigError/NetlinkError is a
crash, saved under ``FUZZ_ARTIFACTS``. ``FUZZ_SECONDS`` (default 600) bounds the run;
``FUZZ_CORPUS`` keeps the corpus between runs.

    FUZZ_SECONDS=600 python3 bench/fuzz.py
"""

import os
import sys
import tempfile
import time

import atheris
import common  # noqa: F401  (puts the repository on sys.path)

with atheris.instrument_imports():
    from nfacct_exporter import config
    from nfacct_exporter.config import web
    from nfacct_exporter.netlink import conntrack, core, nfacct, nflog, nft, socket  # noqa: F401

from tests.support import decoding, nflog_ref, wire  # noqa: E402

WEB = os.path.join(tempfile.mkdtemp(prefix="fuzz-web-"), "web.yml")
KERNEL = decoding.FakeKernel(timeout=0.002)


class Provided:
    """``wire.Choices`` over libFuzzer's bytes."""

    def __init__(self, fdp: atheris.FuzzedDataProvider) -> None:
        self._fdp = fdp

    def int(self, lo: int, hi: int) -> int:
        return self._fdp.ConsumeIntInRange(lo, hi)

    def bytes(self, lo: int, hi: int) -> bytes:
        return self._fdp.ConsumeBytes(self._fdp.ConsumeIntInRange(lo, hi))


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    c = Provided(fdp)
    mode = fdp.ConsumeIntInRange(0, 9)
    if mode == 0:
        decoding.survives(fdp.ConsumeBytes(4096))
    elif mode == 1:
        decoding.survives(wire.garbage(c))
    elif mode == 2:
        raw = wire.nfacct_datagram(c)
        assert decoding.nfacct_fast(raw) == decoding.nfacct_reference(raw)
    elif mode == 3:
        raw = wire.nft_datagram(c)
        assert sorted(decoding.nft_fast(raw)) == sorted(decoding.nft_reference(raw))
    elif mode == 4:
        datagrams = wire.nflog_datagrams(c)
        assert nflog_ref.tally_all(datagrams) == nflog_ref.reference(datagrams)
    elif mode == 5:
        decoding.socket_survives(KERNEL, [fdp.ConsumeBytes(512) for _ in range(c.int(1, 3))])
    elif mode in (6, 7):
        text = fdp.ConsumeUnicodeNoSurrogates(4096)
        try:
            if mode == 6:
                config.from_text(text)
            else:
                with open(WEB, "w") as f:
                    f.write(text)
                web.load(WEB)
        except config.ConfigError:
            pass
    elif mode == 8:
        raw = wire.conntrack_datagram(c)
        assert decoding.conntrack_fast(raw) == decoding.conntrack_reference(raw)
    else:
        decoding.socket_survives(KERNEL, [wire.garbage(c) for _ in range(c.int(1, 3))])


def main() -> None:
    seconds = int(os.environ.get("FUZZ_SECONDS", "600"))
    artifacts = os.environ.get("FUZZ_ARTIFACTS", tempfile.gettempdir()) + "/"
    corpus = os.environ.get("FUZZ_CORPUS") or tempfile.mkdtemp(prefix="fuzz-corpus-")
    os.makedirs(corpus, exist_ok=True)
    print(f"fuzzing for {seconds} s, corpus {corpus}, crashes to {artifacts}", flush=True)
    start = time.monotonic()
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}",
                   "-print_final_stats=1", "-max_len=4096", "-timeout=10", "-rss_limit_mb=1024",
                   corpus], one)
    try:
        atheris.Fuzz()
    finally:
        print(f"ran {time.monotonic() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
