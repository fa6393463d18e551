"""The HTTP endpoint: server, TLS and web config reload, basic auth, negotiation, status page."""
