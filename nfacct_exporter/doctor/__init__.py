"""``nfacct-exporter doctor``: reads the running system (and the configuration) and reports,
each naming the object, group or file and the fix, what makes counters stay at 0 or points go
missing: capability, kernel support, NFACCT objects against rules, NFLOG groups against rules and
listeners, loggers, the listen address, Graphite, the web configuration."""
