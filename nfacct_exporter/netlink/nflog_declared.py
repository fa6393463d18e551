"""pyroute2 declarations of the NFLOG messages, checked in the tests against the ``struct``
requests and the tally of ``nflog.py``; imported only on first use (the daemon never needs it)."""


def declare() -> dict[str, type]:
    from pyroute2.netlink import nla
    from pyroute2.netlink.nfnetlink import nfgen_msg

    class nflog_config_msg(nfgen_msg):
        """NFULNL_MSG_CONFIG: bind a group and set copy mode, batching and flags."""

        prefix = "NFULA_CFG_"
        nla_map = (
            ("NFULA_CFG_UNSPEC", "none"),
            ("NFULA_CFG_CMD", "uint8"),
            ("NFULA_CFG_MODE", "cfg_mode"),
            ("NFULA_CFG_NLBUFSIZ", "be32"),
            ("NFULA_CFG_TIMEOUT", "be32"),
            ("NFULA_CFG_QTHRESH", "be32"),
            ("NFULA_CFG_FLAGS", "be16"),
        )

        class cfg_mode(nla):
            fields = (("copy_range", ">I"), ("copy_mode", "B"), ("_pad", "B"))


    class nflog_packet_msg(nfgen_msg):
        """NFULNL_MSG_PACKET: one logged packet (what this exporter reads, and the rest)."""

        prefix = "NFULA_"
        nla_map = (
            ("NFULA_UNSPEC", "none"),
            ("NFULA_PACKET_HDR", "packet_hdr"),
            ("NFULA_MARK", "be32"),
            ("NFULA_TIMESTAMP", "hex"),
            ("NFULA_IFINDEX_INDEV", "be32"),
            ("NFULA_IFINDEX_OUTDEV", "be32"),
            ("NFULA_IFINDEX_PHYSINDEV", "be32"),
            ("NFULA_IFINDEX_PHYSOUTDEV", "be32"),
            ("NFULA_HWADDR", "hex"),
            ("NFULA_PAYLOAD", "hex"),
            ("NFULA_PREFIX", "asciiz"),
            ("NFULA_UID", "be32"),
            ("NFULA_SEQ", "be32"),
            ("NFULA_SEQ_GLOBAL", "be32"),
            ("NFULA_GID", "be32"),
            ("NFULA_HWTYPE", "be16"),
            ("NFULA_HWHEADER", "hex"),
            ("NFULA_HWLEN", "be16"),
            ("NFULA_CT", "hex"),
            ("NFULA_CT_INFO", "be32"),
            ("NFULA_VLAN", "hex"),
            ("NFULA_L2HDR", "hex"),
        )

        class packet_hdr(nla):
            fields = (("hw_protocol", ">H"), ("hook", "B"), ("_pad", "B"))

    return {"nflog_config_msg": nflog_config_msg, "nflog_packet_msg": nflog_packet_msg}
