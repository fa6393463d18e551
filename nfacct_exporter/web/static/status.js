// Refreshes the status page from /api/status every poll interval. Plain DOM, no framework;
// every name, label and prefix is set with textContent, never parsed as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const BAD = ["drop", "reject"];
  const interval = Math.min(Math.max(parseFloat(document.body.dataset.interval) || 10, 1), 60);
  const defaults = { q: "", sort: "bytes_per_second", order: "desc", offset: 0, limit: 50, kind: "" };
  const state = Object.assign({}, defaults);
  new URLSearchParams(location.search).forEach((v, k) => {
    if (k in defaults) state[k] = typeof defaults[k] === "number" ? Math.max(parseInt(v, 10) || 0, 0) : v;
  });
  let timer = 0, seq = 0, typing = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function rate(v, unit) {
    if (v === null || v === undefined) return "–";
    let p = "";
    for (const x of ["k", "M", "G", "T"]) {
      if (Math.abs(v) < 999.5) break;
      v /= 1000; p = x;
    }
    return Number(v.toPrecision(3)) + " " + p + unit;
  }
  function spark(points) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 80 18");
    svg.setAttribute("aria-hidden", "true");
    const top = Math.max(0, ...points.filter((v) => v !== null)) || 1;
    const step = 80 / Math.max(points.length - 1, 1);
    const xy = [];
    points.forEach((v, i) => { if (v !== null) xy.push((i * step).toFixed(1) + "," + (17 - 16 * v / top).toFixed(1)); });
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", xy.join(" "));
    svg.append(line);
    return svg;
  }
  const bits = (v) => (v === null ? null : v * 8);
  function td(cls, content) {
    const c = el("td", cls);
    if (content instanceof Node) c.append(content); else c.textContent = content;
    return c;
  }
  function params(change) {
    const q = Object.assign({}, state, change || {});
    const out = new URLSearchParams();
    for (const k in defaults) if (q[k] !== defaults[k]) out.set(k, q[k]);
    return out.toString();
  }
  function when(t) {
    return t === null ? "never" : new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function renderHead() {
    for (const a of $("head").querySelectorAll("a[data-sort]")) {
      const key = a.dataset.sort;
      const cur = key === state.sort;
      a.textContent = a.textContent.replace(/ [▲▼]$/, "") + (cur ? (state.order === "desc" ? " ▼" : " ▲") : "");
      const order = cur ? (state.order === "desc" ? "asc" : "desc") : (key === "name" ? "asc" : "desc");
      a.href = "?" + params({ sort: key, order: order, offset: 0 });
    }
  }
  function labels(it) {
    const c = el("td", "labels");
    const pairs = Object.assign(it.netns !== null ? { netns: it.netns } : {}, it.labels || {});
    for (const k in pairs) c.append(el("span", "", k + "=" + pairs[k]));
    return c;
  }
  function renderRows(items) {
    $("rows").replaceChildren(...items.map((it) => {
      const tr = el("tr");
      tr.append(td("name", it.name), labels(it), td("n", rate(it.packets_per_second, "p/s")),
        td("n", rate(bits(it.bytes_per_second), "bit/s")), td("n", it.packets), td("n", it.bytes),
        td("", spark(it.history.bytes_per_second.map(bits))));
      return tr;
    }));
  }
  function renderPager(c) {
    const p = $("pager"), out = [];
    if (c.offset > 0) {
      const a = el("a", "", "previous"); a.id = "prev"; a.href = "?" + params({ offset: Math.max(c.offset - c.limit, 0) }); out.push(a);
    }
    if (c.offset + c.limit < c.matched) {
      const a = el("a", "", "next"); a.id = "next"; a.href = "?" + params({ offset: c.offset + c.limit }); out.push(a);
    }
    out.push(el("span", "", Math.min(c.offset + 1, c.matched) + "–" + Math.min(c.offset + c.limit, c.matched) + " of " + c.matched));
    p.replaceChildren(...out);
    $("count").textContent = c.matched + " of " + c.total;
  }
  function renderNflog(top) {
    const box = $("nflog"), verdicts = Object.keys(top);
    if (!verdicts.length) { box.replaceChildren(el("p", "", "No NFLOG prefixes counted.")); return; }
    box.replaceChildren(...verdicts.map((v) => {
      const bad = BAD.includes(v) ? "bad" : "";
      const div = el("div", "verdict"), table = el("table"), head = el("tr"), body = el("tbody");
      div.append(el("h3", bad, v), table);
      for (const [t, n] of [["Prefix"], ["Group"], ["Packets/s", 1], ["Bits/s", 1], ["Packets", 1], ["Recent"]]) head.append(el("th", n ? "n" : "", t));
      table.append(el("thead"), body);
      table.firstChild.append(head);
      for (const it of top[v]) {
        const tr = el("tr", bad), g = td("", it.group);
        if (it.netns !== null) { g.append(" "); g.append(el("small", "", it.netns)); }
        tr.append(it.prefix === null ? td("overflow", "(prefixes beyond max_prefixes)") : td("name", it.prefix), g,
          td("n", rate(it.packets_per_second, "p/s")), td("n", rate(bits(it.bytes_per_second), "bit/s")),
          td("n", it.packets), td("", spark(it.history.packets_per_second)));
        body.append(tr);
      }
      return div;
    }));
  }
  function renderHealth(h) {
    const items = [["Last poll", when(h.poll_time) + (h.poll_duration === null ? "" : ", took " + (h.poll_duration * 1000).toFixed(1) + " ms"), ""],
      ["Objects", h.objects + " NFACCT, " + h.nft_counters + " nft", ""]];
    const failed = h.sources.filter((s) => !s.ok);
    items.push(["Sources", failed.map((s) => s.source + (s.netns ? "@" + s.netns : "") + ": " + (s.error || "failed")).join("; ") || "all read", failed.length ? "bad" : "ok"]);
    const g = h.graphite, n = h.nflog, r = h.reload;
    items.push(["Graphite", g === null ? "off" : (g.connected ? "connected" : "NOT connected") + ", backlog " + g.backlog_lines + " lines, " + g.lines_dropped + " dropped",
      g === null ? "" : g.connected && !g.lines_dropped ? "ok" : "bad"]);
    items.push(["NFLOG loss", n === null ? "off" : n.lost + " packets lost, " + n.receive_errors + " receive errors", n === null ? "" : n.lost || n.receive_errors ? "bad" : "ok"]);
    if (r !== null) {
      const ok = r.successful !== false;
      items.push(["Reload", (ok ? "configuration loaded " : "last reload FAILED; running configuration from ") + when(r.timestamp === undefined ? null : r.timestamp), ok ? "ok" : "bad"]);
    }
    $("health").replaceChildren(...items.flatMap(([k, v, c]) => [el("dt", "", k), el("dd", c, v)]));
    const age = Date.now() / 1000 - (h.poll_time || 0);
    notice(age > 3 * interval + 5 ? "no new poll for " + Math.round(age) + " s" : "");
  }
  function notice(text) {
    $("state").textContent = text;
    $("state").hidden = !text;
  }

  async function load() {
    clearTimeout(timer);
    const mine = ++seq;
    try {
      const r = await fetch("/api/status?" + params(), { cache: "no-store", credentials: "same-origin" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const d = await r.json();
      if (mine !== seq) return;
      renderHead(); renderRows(d.counters.items); renderPager(d.counters);
      renderNflog(d.nflog.top); renderHealth(d.health);
      document.body.dataset.seq = d.health.poll_seq;
    } catch (e) {
      if (mine === seq) notice("update failed: " + e.message);
    }
    if (mine === seq) timer = setTimeout(load, interval * 1000);
  }
  function go(change) {
    Object.assign(state, change);
    history.replaceState(null, "", params() ? "?" + params() : location.pathname);
    load();
  }

  $("head").addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-sort]");
    if (!a) return;
    ev.preventDefault();
    const key = a.dataset.sort;
    go(key === state.sort ? { order: state.order === "desc" ? "asc" : "desc", offset: 0 }
      : { sort: key, order: key === "name" ? "asc" : "desc", offset: 0 });
  });
  $("pager").addEventListener("click", (ev) => {
    const a = ev.target.closest("a");
    if (!a) return;
    ev.preventDefault();
    go({ offset: a.id === "prev" ? Math.max(state.offset - state.limit, 0) : state.offset + state.limit });
  });
  $("filter").addEventListener("submit", (ev) => { ev.preventDefault(); go({ q: $("q").value, offset: 0 }); });
  $("q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => go({ q: $("q").value, offset: 0 }), 250);
  });
  timer = setTimeout(load, interval * 1000);
})();
