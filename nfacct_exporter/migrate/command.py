"""``nfacct-exporter migrate ULOGD.CONF``: the equivalent configuration on standard output,
warnings (every setting not carried over) on standard error; exit 2 on a file ulogd would not
read."""

import argparse
import sys

from nfacct_exporter.migrate.translate import translate
from nfacct_exporter.migrate.ulogd_conf import BadConfig, parse

PROG = "nfacct-exporter migrate"
DESCRIPTION = """\
Read a ulogd2 configuration (ulogd.conf: [global] stack= lines and one [section] per plugin
instance) and print the equivalent nfacct-exporter configuration, with comments, on standard
output. NFACCT's pollinterval, GRAPHITE's host, port and prefix (zerocounter=1, ulogd's
default, becomes graphite.mode: delta, so existing whisper series keep meaning "per
interval"), NFLOG stacks' group and numeric_label (as the group's verdict) and their JSON
output (as the group's events) carry over; every setting that does not is named on standard
error.
"""
EPILOG = """\
example:
  nfacct-exporter migrate /etc/ulogd.conf > /etc/nfacct-exporter/config.yaml
  nfacct-exporter check --config.file /etc/nfacct-exporter/config.yaml

exit codes:
  0  printed (warnings, if any, on standard error)
  2  not a ulogd configuration, a stack naming a missing section, or a file that cannot be read
"""


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = commands.add_parser("migrate", help="print the configuration equivalent to a ulogd.conf",
                            description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ulogd_conf", metavar="ULOGD.CONF", help="ulogd2 configuration file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.ulogd_conf, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        result = translate(parse(text, args.ulogd_conf))
    except OSError as e:
        print(f"{PROG}: {args.ulogd_conf}: {e.strerror or e}", file=sys.stderr)
        return 2
    except BadConfig as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(result.yaml)
    for warning in result.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    return 0
