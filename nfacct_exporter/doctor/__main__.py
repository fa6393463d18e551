import sys

from nfacct_exporter.doctor.cli import main

sys.exit(main(sys.argv[1:]))
