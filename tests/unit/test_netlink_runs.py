"""A run of messages of one layout, found with strided slices, against a byte-by-byte check."""

import random
import struct

from nfacct_exporter.netlink import runs


def brute(data: bytes, off: int, step: int, fixed: runs.Fixed, most: int) -> int:
    for i in range(most):
        if any(data[off + i * step + o] != b[0] for o, b in fixed):
            return i
    return most


def test_run_length_is_where_the_first_fixed_byte_differs() -> None:
    rnd = random.Random(5)
    for _ in range(300):
        step = rnd.choice([8, 12, 40, 160])
        count = rnd.randint(1, 200)
        msg = bytes(rnd.getrandbits(8) for _ in range(step))
        spans = [(o, rnd.randint(1, 3)) for o in sorted(rnd.sample(range(step - 3), 3))]
        data = bytearray(msg * count + bytes(rnd.randint(0, step - 1)))
        for _ in range(rnd.randint(0, 3)):  # a byte changed somewhere: fixed or not
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        data = bytes(data)
        fixed = runs.fixed_bytes(msg, spans)
        off = rnd.randrange(count) * step
        most = (len(data) - off) // step
        assert runs.run_length(data, off, step, fixed, most) == brute(data, off, step, fixed, most)


def test_run_rows_reads_the_whole_run_past_the_first_chunk() -> None:
    row = struct.Struct(">4sI")
    data = b"".join(row.pack(b"head", i) for i in range(runs.FIRST * 3)) + row.pack(b"HEAD", 0)
    fixed = runs.fixed_bytes(data[:8], [(0, 4)])
    got = runs.run_rows(row.iter_unpack, 8, fixed, data, memoryview(data), 8 * 5)
    assert [i for _, i in got] == list(range(5, runs.FIRST * 3))
