"""The HTTP endpoint: server, TLS and web config reload, basic auth, landing page, negotiation."""
