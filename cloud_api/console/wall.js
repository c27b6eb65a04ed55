// The command centre's wall: counts, sites and gateways, live alert feed, data gaps, sparklines.
// The alarm rate and standing alarms come from /api/v1/alarm-metrics, polled every 30 s.
// Alerts come from the REST list once, then from the stream; points' values and quality come
// from the stream too. The registry (which points exist, staleness), the trends and the data
// gaps (the bridges' `gap` events: data that never arrived) are polled.
"use strict";

(() => {
  const { t, api, el, stream, sparkline, fmtTime, fmtNum, escalatedBadge, SEVERITY_RANK, ACTIVE } = PW;
  const alerts = new Map(); // id -> alert (active ones, and resolved ones for a minute)
  const floods = new Map(); // flood incident id -> { total, members: Map id -> alert }
  const fresh = new Set(); // ids to flash once
  let points = [];
  let sites = [];
  const live = new Map(); // "site/gateway/device/point" -> newest value item from the stream
  let gaps = []; // the newest gap events of the last 24 h at the caller's sites
  let gapTotal = null; // how many there are (the count on the wall)
  const gapsSeen = new Set(); // ids shown before: the others flash once
  const FEED_MAX = 10;
  const SPARKS_MAX = 8;
  const GAPS_MAX = 3;
  const DAY_MS = 24 * 3600 * 1000;

  // level: "alarm" (red) or "warn" (amber) while the count is above zero.
  function setCount(id, n, level) {
    const box = document.getElementById(id);
    box.querySelector(".n").textContent = n === null ? "–" : String(n);
    for (const l of ["alarm", "warn"]) box.classList.toggle(l, l === level && n > 0);
  }

  function gatewayStatus() {
    // A gateway is online while any of its points reports good, recent data.
    const status = new Map();
    for (const p of points) {
      const key = p.site + "/" + p.gateway;
      status.set(key, status.get(key) || p.status === "ok");
    }
    return status;
  }

  function renderCounts() {
    const active = [...alerts.values()].filter((a) => ACTIVE.includes(a.state));
    setCount("count-active", active.length, "alarm");
    setCount("count-critical", active.filter((a) => a.severity === "critical").length, "alarm");
    const status = gatewayStatus();
    const gateways = sites.flatMap((s) => s.gateways.map((g) => s.site + "/" + g));
    setCount("count-offline", gateways.filter((g) => !status.get(g)).length, "alarm");
    // Data gaps: the number of gap events (holes in a gateway's seqs) in the last 24 h.
    setCount("count-gaps", gapTotal, "warn");
  }

  function fmtWhen(ms) {
    // Within 24 h: the time, with the day when it was not today.
    const d = new Date(ms);
    if (d.toDateString() === new Date().toDateString()) return fmtTime(ms);
    return d.toLocaleString(PW.lang, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  function lostKey(g) {
    return "gaps." + (g.stream === "alarm" ? "alarm" : "frame") + (g.count === 1 ? "" : "s");
  }

  function renderGaps() {
    const box = document.getElementById("gaps");
    if (gapTotal === null) return;
    const more = gapTotal - gaps.length;
    document.getElementById("gaps-more").textContent = more > 0 ? t("gaps.more").replace("{n}", more) : "";
    if (!gaps.length) {
      box.replaceChildren(el("li", { class: "empty", text: t("gaps.empty") }));
      return;
    }
    // One line each, readable across the room: where, how much, when; the seqs on hover.
    const rows = gaps.map((g) => el("li", {
      class: "gap" + (gapsSeen.size && !gapsSeen.has(g.id) ? " new" : ""),
      "data-event-id": g.id, "data-site": g.site, "data-gateway": g.gateway, "data-count": g.count,
      title: `${t("gaps.seq")} ${g.from_seq}–${g.to_seq}`,
    }, [
      el("span", { class: "where", text: `${g.site} · ${g.gateway}` }),
      el("span", { class: "lost", text: `${g.count} ${t(lostKey(g))}` }),
      el("span", { class: "when", text: fmtWhen(g.ts_ms) }),
    ]));
    box.replaceChildren(...rows);
    for (const g of gaps) gapsSeen.add(g.id);
  }

  async function loadAlarmMetrics() {
    // The alarm rate against EEMUA 191's manageable ~1 per 10 minutes, and standing alarms.
    const m = await api("/api/v1/alarm-metrics");
    const last = m.periods[m.periods.length - 1];
    setCount("count-rate", last, last >= 10 ? "alarm" : last > 1 ? "warn" : null);
    document.getElementById("count-rate").title = t("count.rate.title")
      .replace("{avg}", m.per_10min_average).replace("{peak}", m.per_10min_peak)
      .replace("{flood}", m.flood_time_percent).replace("{chatter}", m.chattering.length);
    setCount("count-standing", m.standing, "warn");
  }

  async function loadGaps() {
    const since = Date.now() - DAY_MS;
    const body = await api(`/api/v1/gateway-events?kind=gap&since_ms=${since}&limit=${GAPS_MAX}`);
    gaps = body.items;
    gapTotal = body.total;
    renderCounts();
    renderGaps();
  }

  function renderSites() {
    const status = gatewayStatus();
    const alerting = new Set([...alerts.values()].filter((a) => ACTIVE.includes(a.state)).map((a) => a.site));
    // Sites the registry does not know yet (no gateway config) but that raise alerts get a tile too.
    const known = new Set(sites.map((s) => s.site));
    const extra = [...alerting].filter((s) => !known.has(s)).sort()
      .map((s) => ({ site: s, gateways: [], points: 0 }));
    const box = document.getElementById("sites");
    box.replaceChildren(...[...sites, ...extra].map((s) => el("div", {
      class: "site" + (alerting.has(s.site) ? " has-alert" : ""), "data-site": s.site,
    }, [
      el("h3", { text: s.site }),
      ...s.gateways.map((g) => {
        const online = Boolean(status.get(s.site + "/" + g));
        return el("div", { class: "gw", "data-gateway": g, "data-status": online ? "online" : "offline" }, [
          el("span", { class: "dot" + (online ? " online" : "") }),
          el("span", { text: g }),
          el("span", { class: "gw-state", text: t(online ? "gw.online" : "gw.offline") }),
        ]);
      }),
      el("div", { class: "gw", text: `${s.points} ${t("points")}` }),
    ])));
  }

  function floodMembers(a) {
    // A flood incident's row: how many alerts it groups, and the first few of them.
    const flood = floods.get(a.id);
    if (a.kind !== "flood" || !flood) return null;
    const members = [...flood.members.values()].sort((x, y) => y.updated_ms - x.updated_ms);
    return el("div", { class: "members", "data-members": flood.total }, [
      el("span", { class: "total", text: `${t("flood")}: ${flood.total} ${t("flood.members")}` }),
      ...members.slice(0, 4).map((m) => el("span", {
        class: "member", "data-alert-id": m.id, text: `${m.device} · ${m.point} ${fmtNum(m.value)}`,
      })),
    ]);
  }

  function renderFeed() {
    // Newest change first: what just happened is what the room needs to see; colour carries severity.
    // Members of a flood incident on screen are shown in its row, not as rows of their own.
    const list = [...alerts.values()].filter((a) => !(a.group && alerts.has(a.group))).sort((a, b) =>
      b.updated_ms - a.updated_ms || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
    const feed = document.getElementById("feed");
    if (!list.length) {
      feed.replaceChildren(el("li", { class: "empty", text: t("feed.empty") }));
      return;
    }
    feed.replaceChildren(...list.slice(0, FEED_MAX).map((a) => el("li", {
      class: `sev-${a.severity}` + (fresh.has(a.id) ? " new" : ""),
      "data-alert-id": a.id, "data-state": a.state, "data-severity": a.severity,
      "data-point": `${a.site}/${a.gateway}/${a.device}/${a.point}`, "data-started-ms": a.started_ms,
    }, [
      el("span", { class: "badge", text: t("sev." + a.severity) }),
      el("span", { class: "where" }, [
        a.kind === "flood" ? `${a.site} · ${t("flood")}`
          : `${a.site} · ${a.device} · ${a.point}  ${fmtNum(a.value)}`,
        escalatedBadge(a),
      ]),
      el("span", { class: `state state-${a.state}`, text: t("state." + a.state) }),
      el("span", { class: "when", text: fmtTime(a.started_ms) }),
      el("span", { class: "msg", text: a.message }),
      floodMembers(a),
    ])));
    fresh.clear();
  }

  function render() { renderCounts(); renderSites(); renderFeed(); }

  async function loadFlood(id) {
    const body = await api(`/api/v1/alerts?group=${encodeURIComponent(id)}&limit=100`);
    // Members that came by the stream while the request was under way count too.
    const flood = floods.get(id) || { total: 0, members: new Map() };
    for (const m of body.items) if (!flood.members.has(m.id)) flood.members.set(m.id, m);
    flood.total = Math.max(body.total, flood.members.size);
    floods.set(id, flood);
    render();
  }

  function trackFlood(a) {
    if (a.kind === "flood" && !floods.has(a.id)) {
      floods.set(a.id, { total: 0, members: new Map() });
      guarded(() => loadFlood(a.id));
    }
    const flood = a.group && floods.get(a.group);
    if (flood) {
      if (!flood.members.has(a.id)) flood.total += 1;
      flood.members.set(a.id, a);
    }
  }

  let sparksSoon = null;
  function onAlert(a) {
    trackFlood(a);
    if (!alerts.has(a.id)) {
      fresh.add(a.id);
      // A new alert's point joins the sparklines (and shows its spike) without waiting for the poll.
      clearTimeout(sparksSoon);
      sparksSoon = setTimeout(() => guarded(loadSparks), 1500);
    }
    alerts.set(a.id, a);
    if (!ACTIVE.includes(a.state)) {
      setTimeout(() => {
        const now = alerts.get(a.id);
        if (now && !ACTIVE.includes(now.state)) { alerts.delete(a.id); render(); }
      }, 60000);
    }
    render();
  }

  async function loadAlerts() {
    const body = await api("/api/v1/alerts?state=open&state=acknowledged&limit=200");
    alerts.clear();
    floods.clear();
    for (const a of body.items) alerts.set(a.id, a);
    for (const a of body.items) trackFlood(a);
    render();
  }

  const pointKey = (p) => `${p.site}/${p.gateway}/${p.device}/${p.point}`;

  function withLive(p) {
    // The stream's value if it is newer than the registry's; staleness stays the registry's call.
    const v = live.get(pointKey(p));
    if (!v || (p.ts_ms !== null && v.ts_ms <= p.ts_ms)) return p;
    return Object.assign({}, p, {
      ts_ms: v.ts_ms, value: v.value, quality: v.quality, status: v.quality === "good" ? "ok" : "bad",
    });
  }

  function valueText(p) {
    return p.value === null || p.value === undefined ? "—" : fmtNum(p.value) + (p.unit ? " " + p.unit : "");
  }

  function onValues(items) {
    for (const v of items) live.set(pointKey(v), v);
    points = points.map(withLive);
    const byKey = new Map(points.map((p) => [pointKey(p), p]));
    document.querySelectorAll(".sparkbox").forEach((box) => {
      const p = byKey.get(box.dataset.key);
      if (p && live.has(box.dataset.key)) box.querySelector(".val").textContent = valueText(p);
    });
    renderCounts();
    renderSites();
  }

  async function loadRegistry() {
    const [s, p] = await Promise.all([api("/api/v1/sites?limit=500"), api("/api/v1/points?limit=500")]);
    sites = s.items;
    points = p.items.map(withLive);
    render();
  }

  function keyPoints() {
    // Points with an active alert first (newest first), then the first point of each device.
    const chosen = [];
    const seen = new Set();
    const add = (p) => {
      const k = `${p.site}/${p.gateway}/${p.device}/${p.point}`;
      if (!seen.has(k) && chosen.length < SPARKS_MAX) { seen.add(k); chosen.push(p); }
    };
    const known = new Map(points.map((p) => [`${p.site}/${p.gateway}/${p.device}/${p.point}`, p]));
    const newest = [...alerts.values()].filter((a) => ACTIVE.includes(a.state))
      .sort((a, b) => b.updated_ms - a.updated_ms);
    for (const a of newest) {
      const p = known.get(`${a.site}/${a.gateway}/${a.device}/${a.point}`);
      if (p) add(p); // an alert on a point the registry does not know has no history to draw
    }
    const devices = new Set();
    for (const p of points) {
      const d = `${p.site}/${p.gateway}/${p.device}`;
      if (!devices.has(d)) { devices.add(d); add(p); }
    }
    return chosen;
  }

  async function loadSparks() {
    const to = Date.now();
    const from = to - 15 * 60 * 1000;
    const boxes = await Promise.all(keyPoints().map(async (p) => {
      const path = `/api/v1/points/${p.site}/${p.gateway}/${p.device}/${p.point}/history?from_ms=${from}&to_ms=${to}`;
      let buckets = [];
      try { buckets = (await api(path)).buckets; } catch (e) { buckets = []; }
      const lastVal = [...buckets].reverse().find((b) => b.mean !== null);
      const shown = live.has(pointKey(p)) ? valueText(p)
        : valueText({ value: lastVal ? lastVal.mean : null, unit: p.unit });
      return el("div", {
        class: "sparkbox", "data-point": `${p.site}/${p.device}/${p.point}`, "data-key": pointKey(p),
      }, [
        el("div", { class: "name" }, [
          el("span", { text: `${p.site} · ${p.device} · ${p.point}` }),
          el("span", { class: "val", text: shown }),
        ]),
        el("div", { class: "plot" }, [sparkline(buckets, { width: 300, height: 60 })]),
      ]);
    }));
    document.getElementById("sparks").replaceChildren(...boxes);
  }

  function showAuthError(err) {
    const box = document.getElementById("auth-error");
    box.textContent = `${t("error")} ${err.status || ""}: ${err.message}`;
    box.classList.remove("hidden");
  }

  async function guarded(fn) {
    try { await fn(); } catch (err) { showAuthError(err); }
  }

  function tick() { document.getElementById("clock").textContent = fmtTime(Date.now()); }

  PW.applyI18n();
  PW.bindLangSwitch(document.getElementById("lang"));
  document.addEventListener("pw-lang", () => { render(); renderGaps(); loadSparks(); guarded(loadAlarmMetrics); });
  tick();
  setInterval(tick, 1000);
  const conn = document.getElementById("conn");
  stream({
    alert: onAlert,
    values: onValues,
    reset: () => guarded(loadAlerts),
    unauthorized: () => showAuthError(new PW.ApiError(401, t("login.bad"))),
    status: (s) => {
      conn.dataset.i18n = "conn." + s;
      conn.dataset.status = s;
      conn.className = "conn conn-" + s;
      conn.textContent = t("conn." + s);
    },
  });
  guarded(loadAlerts);
  guarded(loadRegistry).then(loadSparks);
  guarded(loadGaps);
  guarded(loadAlarmMetrics);
  setInterval(() => guarded(loadRegistry), 30000);
  setInterval(() => guarded(loadAlarmMetrics), 30000);
  setInterval(() => guarded(loadSparks), 15000);
  setInterval(() => guarded(loadGaps), 15000);
})();
