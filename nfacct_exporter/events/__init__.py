"""NFLOG packet events: each logged packet as one JSON line (ulogd2's keys or ECS) to a file,
standard output or a stream socket, behind a bounded queue that never makes counting wait."""
