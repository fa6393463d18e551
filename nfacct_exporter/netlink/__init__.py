"""Netlink wire formats (declared as data), the raw socket, and namespace entry."""
