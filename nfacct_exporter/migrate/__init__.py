"""``nfacct-exporter migrate ulogd.conf``: a ulogd2 configuration → the equivalent config.yaml."""
