"""``python -m nfacct_exporter`` runs the daemon."""

from nfacct_exporter.cli import main

raise SystemExit(main())
