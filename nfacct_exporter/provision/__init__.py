"""Counter set-up, ``nfacct-exporter counters create|rules``: the NFACCT objects the config's
``counters:`` section declares (``create``) and the firewall rules feeding them (``rules``)."""
