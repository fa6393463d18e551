"""Netlink: one module per netfilter subsystem (nfacct, nflog, nft: constants, declared messages,
requests, fast decoder), what they share (core), the socket, and namespace entry (netns)."""
