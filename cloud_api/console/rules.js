// Monitoring rules: the list, enable/disable (admins and commanders), each rule's versions.
// Everything else (create, edit, roll back, delete) is the REST API's; see /docs.
"use strict";

(() => {
  const { t, api, el } = PW;
  const $ = (id) => document.getElementById(id);
  const EDITORS = ["admin", "commander"];
  let me = null;
  let rules = [];
  let shown = null; // id of the rule whose versions are on screen

  const DURATIONS = ["delay", "predict", "window", "after", "for"]; // seconds on the wire

  function conditionText(c) {
    const parts = Object.entries(c).filter(([k, v]) => k !== "type" && v !== null)
      .map(([k, v]) => `${k} ${v}${DURATIONS.includes(k) ? "s" : ""}`);
    return `${c.type}: ${parts.join(", ")}`;
  }

  function scopeText(s) {
    const parts = Object.entries(s).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`);
    return parts.length ? parts.join(" ") : t("rules.everywhere");
  }

  function showError(err) {
    $("error").textContent = err ? `${t("error")} ${err.status || ""}: ${err.message}` : "";
  }

  async function toggle(rule) {
    showError(null);
    try {
      const action = rule.enabled ? "disable" : "enable";
      await api(`/api/v1/rules/${encodeURIComponent(rule.id)}/${action}`, { method: "POST" });
      await load();
    } catch (err) { showError(err); }
  }

  function render() {
    const editor = me && EDITORS.includes(me.role);
    $("rules").querySelector("tbody").replaceChildren(...rules.map((r) => el("tr", {
      "data-rule-id": r.id, "data-enabled": String(r.enabled), "data-version": r.version,
      class: "rule" + (r.id === shown ? " selected" : ""), onclick: () => loadVersions(r.id),
    }, [
      el("td", {}, [el("strong", { text: r.id }), el("div", { class: "msg", text: r.name })]),
      el("td", { text: conditionText(r.condition) }),
      el("td", { text: scopeText(r.scope) }),
      el("td", {}, [el("span", { class: `badge sev-${r.severity}`, text: t("sev." + r.severity) })]),
      el("td", { class: "version", text: String(r.version) }),
      el("td", {}, [editor
        ? el("button", {
          type: "button", class: "toggle", text: t(r.enabled ? "rules.disable" : "rules.enable"),
          onclick: (ev) => { ev.stopPropagation(); toggle(r); },
        })
        : el("span", { text: t(r.enabled ? "rules.on" : "rules.off") })]),
    ])));
  }

  async function load() {
    const all = [];
    let cursor = null;
    do {
      const body = await api("/api/v1/rules?limit=500" + (cursor ? "&cursor=" + cursor : ""));
      all.push(...body.items);
      cursor = body.next_cursor;
    } while (cursor);
    rules = all;
    render();
    if (shown) await loadVersions(shown);
  }

  async function loadVersions(id) {
    shown = id;
    const body = await api(`/api/v1/rules/${encodeURIComponent(id)}/versions?limit=100`);
    $("versions-title").textContent = `${id} · ${t("rules.versions")} (${body.total})`;
    $("versions").querySelector("tbody").replaceChildren(...body.items.map((v) => el("tr", {
      "data-version": v.version,
    }, [
      el("td", { text: String(v.version) }),
      el("td", { text: `${new Date(v.updated_ms).toLocaleString(PW.lang)} · ${v.updated_by}` }),
      el("td", { text: t(v.enabled ? "rules.on" : "rules.off") }),
      el("td", { text: `${conditionText(v.condition)} · ${scopeText(v.scope)}` }),
    ])));
    $("versions").classList.remove("hidden");
    render();
  }

  async function start() {
    try {
      me = await api("/api/v1/me");
    } catch (err) {
      if (err.status === 401) { $("login-form").classList.remove("hidden"); return; }
      throw err;
    }
    $("login-form").classList.add("hidden");
    $("who").textContent = `${me.name} · ${me.role}`;
    await load();
  }

  PW.applyI18n();
  PW.bindLangSwitch($("lang"));
  document.addEventListener("pw-lang", () => { render(); if (shown) loadVersions(shown); });
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    PW.setToken($("token").value.trim());
    start().catch(showError);
  });
  start().catch(showError);
})();
