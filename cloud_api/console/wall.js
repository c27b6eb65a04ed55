// The command centre's wall: counts, sites and gateways, live alert feed, sparklines.
// Alerts come from the REST list once, then from the stream; the registry and trends are polled.
"use strict";

(() => {
  const { t, api, el, stream, sparkline, fmtTime, fmtNum, SEVERITY_RANK, ACTIVE } = PW;
  const alerts = new Map(); // id -> alert (active ones, and resolved ones for a minute)
  const fresh = new Set(); // ids to flash once
  let points = [];
  let sites = [];
  const FEED_MAX = 10;
  const SPARKS_MAX = 8;

  function setCount(id, n, alarm) {
    const box = document.getElementById(id);
    box.querySelector(".n").textContent = n === null ? "–" : String(n);
    box.classList.toggle("alarm", Boolean(alarm && n > 0));
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
    setCount("count-active", active.length, true);
    setCount("count-critical", active.filter((a) => a.severity === "critical").length, true);
    const status = gatewayStatus();
    const gateways = sites.flatMap((s) => s.gateways.map((g) => s.site + "/" + g));
    setCount("count-offline", gateways.filter((g) => !status.get(g)).length, true);
    setCount("count-gaps", points.filter((p) => p.status !== "ok").length, false);
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

  function renderFeed() {
    // Newest change first: what just happened is what the room needs to see; colour carries severity.
    const list = [...alerts.values()].sort((a, b) =>
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
      el("span", { class: "where", text: `${a.site} · ${a.device} · ${a.point}  ${fmtNum(a.value)}` }),
      el("span", { class: `state state-${a.state}`, text: t("state." + a.state) }),
      el("span", { class: "when", text: fmtTime(a.started_ms) }),
      el("span", { class: "msg", text: a.message }),
    ])));
    fresh.clear();
  }

  function render() { renderCounts(); renderSites(); renderFeed(); }

  let sparksSoon = null;
  function onAlert(a) {
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
    for (const a of body.items) alerts.set(a.id, a);
    render();
  }

  async function loadRegistry() {
    const [s, p] = await Promise.all([api("/api/v1/sites?limit=500"), api("/api/v1/points?limit=500")]);
    sites = s.items;
    points = p.items;
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
      return el("div", { class: "sparkbox", "data-point": `${p.site}/${p.device}/${p.point}` }, [
        el("div", { class: "name" }, [
          el("span", { text: `${p.site} · ${p.device} · ${p.point}` }),
          el("span", { class: "val", text: lastVal ? fmtNum(lastVal.mean) + (p.unit ? " " + p.unit : "") : "—" }),
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
  document.addEventListener("pw-lang", () => { render(); loadSparks(); });
  tick();
  setInterval(tick, 1000);
  const conn = document.getElementById("conn");
  stream({
    alert: onAlert,
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
  setInterval(() => guarded(loadRegistry), 10000);
  setInterval(() => guarded(loadSparks), 15000);
})();
