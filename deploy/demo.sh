#!/usr/bin/env bash
# A self-contained demo: a throwaway network namespace with counters, firewall rules and
# loopback traffic; the exporter runs here, reads that namespace, and serves on localhost.
set -euo pipefail
NS=nfacct-demo
PORT=${PORT:-9849}
DIR=$(mktemp -d)
cleanup() {
    [[ -n ${TRAFFIC:-} ]] && kill "$TRAFFIC" 2>/dev/null || true
    [[ -n ${EXPORTER:-} ]] && kill "$EXPORTER" 2>/dev/null || true
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
inns() { ip netns exec "$NS" "$@"; }
inns ip link set lo up
for name in ipv4.http ipv6.http ipv4.dns ipv6.dns; do inns nfacct add "$name"; done
inns iptables  -A INPUT -p tcp --sport 8080 -m nfacct --nfacct-name ipv4.http
inns ip6tables -A INPUT -p tcp --sport 8080 -m nfacct --nfacct-name ipv6.http
inns iptables  -A INPUT -p udp --dport 5353 -m nfacct --nfacct-name ipv4.dns
inns ip6tables -A INPUT -p udp --dport 5353 -m nfacct --nfacct-name ipv6.dns
# NFLOG as in ulogd's classic setup: accepted connections to group 1, the default drop to group 2
inns iptables  -A INPUT -p tcp --dport 8080 --syn -j NFLOG --nflog-group 1 --nflog-prefix "HTTP Attempt"
inns ip6tables -A INPUT -p tcp --dport 8080 --syn -j NFLOG --nflog-group 1 --nflog-prefix "HTTP Attempt"
inns iptables  -A INPUT -p udp --dport 9999 -j NFLOG --nflog-group 2 --nflog-prefix "Input IPv4 Default DROP"
inns iptables  -A INPUT -p udp --dport 9999 -j DROP

# Loopback traffic inside the namespace: an HTTP server and a client, plus UDP "DNS" queries.
ip netns exec "$NS" python3 - <<'PY' &  # no shell function: $! must be python's PID
import http.server, socket, threading, time, urllib.request
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    cls = type("S", (http.server.ThreadingHTTPServer,), {"address_family": fam})
    srv = cls((host, 8080), http.server.SimpleHTTPRequestHandler)
    srv.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
end = time.time() + 3600  # bounded: one hour at most
try:
    while time.time() < end:
        for url in ("http://127.0.0.1:8080/", "http://[::1]:8080/"):
            urllib.request.urlopen(url).read()
        udp4.sendto(b"q" * 40, ("127.0.0.1", 5353))
        udp6.sendto(b"q" * 40, ("::1", 5353))
        udp4.sendto(b"d" * 60, ("127.0.0.1", 9999))
        time.sleep(0.5)
except KeyboardInterrupt:
    pass
PY
TRAFFIC=$!

cat > "$DIR/config.yaml" <<YAML
pollinterval: 1
netns: $NS
prometheus:
  listen: "127.0.0.1:$PORT"
labels:
  - match: '^(?P<family>ipv[46])\.(?P<app>[^.]+)$'
nflog:
  - group: 1
    verdict: accept
  - group: 2
    verdict: drop
YAML
nfacct-exporter --config "$DIR/config.yaml" &
EXPORTER=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null && break; sleep 0.2; done
echo
echo "nfacct-exporter is serving http://127.0.0.1:$PORT/metrics (namespace $NS). Ctrl-C stops it."
echo "Watch the demo traffic live: open  http://127.0.0.1:$PORT/  in a browser"
echo "  (from another machine: ssh -L $PORT:127.0.0.1:$PORT this-host, then the same address)"
echo "Counters as the kernel sees them:  ip netns exec $NS nfacct list"
echo
sleep 3
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^(nfacct_(packets|bytes)_total|nfacct_up|nflog_(packets|bytes|lost_packets)_total)'
if [[ -n ${DEMO_SECONDS:-} ]]; then sleep "$DEMO_SECONDS"; exit 0; fi  # for unattended runs
wait "$EXPORTER"
