"""Sinks: one module per output. A sink turns a Snapshot into its own format; it never reads
the kernel. ``publish(snapshot)`` is called on the poller thread and must not block."""
