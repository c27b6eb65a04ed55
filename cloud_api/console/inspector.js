// The inspector's phone page: sign in with a token, my open alerts, detail with trend and
// explanation, acknowledge and resolve with a comment. The list follows the live stream.
"use strict";

(() => {
  const { t, api, el, stream, sparkline, fmtTime, fmtNum, escalatedBadge, SEVERITY_RANK, ACTIVE } = PW;
  const $ = (id) => document.getElementById(id);
  let me = null;
  let current = null; // the alert detail on screen
  let live = null;
  const alerts = new Map();

  function show(view) {
    for (const id of ["login", "list", "detail"]) $(id).classList.toggle("hidden", id !== view);
    $("back").classList.toggle("hidden", view !== "detail");
    $("logout").classList.toggle("hidden", view === "login");
    document.body.dataset.view = view;
  }

  async function signIn() {
    try {
      me = await api("/api/v1/me");
    } catch (err) {
      if (err.status === 401) { show("login"); return; }
      throw err;
    }
    $("who").textContent = `${me.name} · ${me.role}` + (me.sites ? ` · ${me.sites.join(", ")}` : "");
    show("list");
    await loadList();
    if (!live) {
      live = stream({
        alert: onAlert,
        reset: loadList,
        unauthorized: () => show("login"),
        status: (s) => { $("conn").className = "conn conn-" + s; $("conn").textContent = t("conn." + s); },
      });
    }
  }

  async function loadList() {
    const body = await api("/api/v1/alerts?state=open&state=acknowledged&limit=200");
    alerts.clear();
    for (const a of body.items) alerts.set(a.id, a);
    renderList();
  }

  function onAlert(a) {
    if (ACTIVE.includes(a.state)) alerts.set(a.id, a); else alerts.delete(a.id);
    renderList();
    if (current && current.id === a.id) openDetail(a.id);
  }

  function renderList() {
    const list = [...alerts.values()].sort((a, b) =>
      (a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1) ||
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.started_ms - a.started_ms);
    const box = $("alerts");
    if (!list.length) { box.replaceChildren(el("p", { class: "msg", text: t("list.empty") })); return; }
    box.replaceChildren(...list.map((a) => el("div", {
      class: `card alert-item sev-${a.severity}`, "data-alert-id": a.id, "data-state": a.state,
      onclick: () => openDetail(a.id),
    }, [
      el("div", { class: "top" }, [
        el("span", { class: "where", text: `${a.site} · ${a.device} · ${a.point}` }),
        el("span", { class: `state state-${a.state}`, text: t("state." + a.state) }),
      ]),
      el("div", { class: "top" }, [
        el("span", {}, [el("span", { class: "badge", text: t("sev." + a.severity) }), escalatedBadge(a)]),
        el("span", { class: "msg", text: fmtTime(a.started_ms) }),
      ]),
      el("div", { class: "msg", text: a.message }),
    ])));
  }

  function explanation(a) {
    if (a.masked) return t("detail.masked");
    const band = a.expected_low !== null && a.expected_high !== null
      ? `${fmtNum(a.expected_low)} … ${fmtNum(a.expected_high)}` : "—";
    let side = "";
    if (a.value !== null && a.expected_high !== null && a.value > a.expected_high) side = t("detail.above");
    if (a.value !== null && a.expected_low !== null && a.value < a.expected_low) side = t("detail.below");
    return `${a.point} = ${fmtNum(a.value)}${side ? ", " + side : ""} (${t("detail.expected")}: ${band})`;
  }

  async function openDetail(id) {
    const a = await api(`/api/v1/alerts/${encodeURIComponent(id)}`);
    current = a;
    show("detail");
    document.body.dataset.alertId = a.id;
    document.body.dataset.state = a.state;
    $("detail-card").className = `card sev-${a.severity}`;
    $("detail-card").replaceChildren(
      el("div", { class: "top" }, [
        el("span", { class: "where", text: `${a.site} · ${a.gateway} · ${a.device} · ${a.point}` }),
        el("span", { id: "detail-state", class: `state state-${a.state}`, "data-state": a.state,
          text: t("state." + a.state) }),
      ]),
      escalatedBadge(a),
      el("h3", { text: t("detail.why") }),
      el("p", { class: "why", text: explanation(a) }),
      el("p", { class: "msg", text: a.message }),
      el("dl", {}, [
        el("dt", { text: t("detail.value") }), el("dd", { text: fmtNum(a.value) }),
        el("dt", { text: t("detail.expected") }),
        el("dd", { text: a.expected_low === null ? "—" : `${fmtNum(a.expected_low)} … ${fmtNum(a.expected_high)}` }),
        el("dt", { text: t("detail.score") }), el("dd", { text: fmtNum(a.score) }),
        el("dt", { text: t("detail.rule") }), el("dd", { text: `${a.rule} (${a.kind}) · ${t("sev." + a.severity)}` }),
        el("dt", { text: t("detail.started") }), el("dd", { text: new Date(a.started_ms).toLocaleString(PW.lang) }),
      ]),
    );
    $("detail-log").replaceChildren(...a.actions.map((x) => el("li", {
      text: `${fmtTime(x.at_ms)} ${x.actor}: ${x.action}${x.comment ? " — " + x.comment : ""}`,
    })));
    $("do-acknowledge").disabled = a.state !== "open";
    $("do-resolve").disabled = a.state === "resolved";
    loadTrend(a);
  }

  async function loadTrend(a) {
    const from = a.started_ms - 10 * 60 * 1000;
    const to = Math.min(Date.now(), a.started_ms + 30 * 60 * 1000);
    const path = `/api/v1/points/${a.site}/${a.gateway}/${a.device}/${a.point}/history?from_ms=${from}&to_ms=${Math.max(to, from + 1000)}`;
    let buckets = [];
    try { buckets = (await api(path)).buckets; } catch (e) { buckets = []; }
    $("detail-plot").replaceChildren(sparkline(buckets, {
      width: 360, height: 110, band: [a.expected_low, a.expected_high], markMs: a.started_ms,
    }));
  }

  async function act(action) {
    if (!current) return;
    const comment = $("comment").value.trim();
    $("note").textContent = "";
    $("note").classList.remove("error");
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(current.id)}/${action}`,
        { json: comment ? { comment } : {} });
      $("comment").value = "";
      $("note").textContent = t("done");
      await openDetail(current.id);
    } catch (err) {
      $("note").textContent = `${t("error")} ${err.status || ""}: ${err.message}`;
      $("note").classList.add("error");
    }
  }

  PW.applyI18n();
  PW.bindLangSwitch($("lang"));
  document.addEventListener("pw-lang", () => { renderList(); if (current) openDetail(current.id); });
  $("back").addEventListener("click", () => { current = null; show("list"); loadList(); });
  $("logout").addEventListener("click", () => {
    PW.setToken("");
    if (live) { live.close(); live = null; }
    show("login");
  });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    PW.setToken($("token").value.trim());
    $("login-error").textContent = "";
    await signIn();
    if (document.body.dataset.view === "login") $("login-error").textContent = t("login.bad");
  });
  $("do-acknowledge").addEventListener("click", () => act("acknowledge"));
  $("do-resolve").addEventListener("click", () => act("resolve"));
  signIn().catch((err) => { show("login"); $("login-error").textContent = `${t("error")}: ${err.message}`; });
})();
