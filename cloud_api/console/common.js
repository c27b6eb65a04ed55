// parkwatch console: shared helpers (i18n, REST, live stream, sparklines). Plain ES2020, no build.
"use strict";

const PW = (() => {
  const I18N = {
    en: {
      "app.title": "parkwatch",
      "wall.title": "Park command centre",
      "inspector.title": "My alerts",
      "count.active": "Active alerts",
      "count.critical": "Critical",
      "count.offline": "Offline gateways",
      "count.gaps": "Data gaps, 24 h",
      "count.rate": "Alarms, 10 min",
      "count.rate.title": "24 h: {avg} per 10 min on average, busiest {peak}; in flood (10 or more) {flood} % of the time; {chatter} chattering",
      "count.standing": "Standing (> 24 h)",
      "gaps": "Data gaps, last 24 h",
      "gaps.empty": "No data lost in the last 24 h",
      "gaps.frame": "frame missing",
      "gaps.frames": "frames missing",
      "gaps.alarm": "alarm missing",
      "gaps.alarms": "alarms missing",
      "gaps.seq": "seq",
      "gaps.more": "+{n} more",
      "sites": "Sites and gateways",
      "feed": "Live alerts",
      "trends": "Key points, last 15 min",
      "feed.empty": "No active alerts",
      "conn.live": "live",
      "conn.connecting": "connecting…",
      "conn.offline": "offline, retrying",
      "gw.online": "online",
      "gw.offline": "offline",
      "state.open": "open",
      "state.acknowledged": "acknowledged",
      "state.resolved": "resolved",
      "state.shelved": "shelved",
      "state.suppressed": "suppressed",
      "sev.critical": "critical",
      "sev.warning": "warning",
      "sev.info": "info",
      "login.title": "Sign in with your token",
      "login.token": "API token",
      "login.submit": "Sign in",
      "login.bad": "The token was not accepted",
      "logout": "Sign out",
      "list.empty": "No open alerts on your sites",
      "back": "Back",
      "detail.why": "Why it fired",
      "detail.value": "Value",
      "detail.expected": "Expected",
      "detail.above": "above the expected range",
      "detail.below": "below the expected range",
      "detail.score": "Anomaly score",
      "detail.rule": "Rule",
      "detail.started": "Started",
      "detail.trend": "Recent trend",
      "detail.actions": "History",
      "detail.masked": "Values hidden: sensitive point",
      "comment": "Comment",
      "comment.placeholder": "What did you find or do?",
      "do.acknowledge": "Acknowledge",
      "do.resolve": "Resolve",
      "done": "Saved",
      "error": "Error",
      "points": "points",
      "nodata": "no data",
      "escalated": "escalated",
      "rules.title": "Monitoring rules",
      "rules.id": "Rule",
      "rules.condition": "Condition",
      "rules.scope": "Scope",
      "rules.severity": "Severity",
      "rules.version": "Version",
      "rules.enabled": "Enabled",
      "rules.updated": "Changed",
      "rules.versions": "versions",
      "rules.everywhere": "whole park",
      "rules.enable": "Enable",
      "rules.disable": "Disable",
      "rules.on": "on",
      "rules.off": "off",
      "flood": "Alert flood",
      "flood.members": "alerts",
      "lang": "中文",
    },
    "zh-CN": {
      "app.title": "园区监测",
      "wall.title": "园区指挥中心",
      "inspector.title": "我的告警",
      "count.active": "活动告警",
      "count.critical": "严重",
      "count.offline": "离线网关",
      "count.gaps": "24小时数据缺失",
      "count.rate": "10分钟告警数",
      "count.rate.title": "24小时：平均每10分钟 {avg} 条，最多 {peak} 条；告警泛滥（10条及以上）时间占 {flood}%；{chatter} 个振荡告警",
      "count.standing": "超24小时告警",
      "gaps": "数据缺失（近24小时）",
      "gaps.empty": "近24小时无数据丢失",
      "gaps.frame": "帧数据缺失",
      "gaps.frames": "帧数据缺失",
      "gaps.alarm": "条报警缺失",
      "gaps.alarms": "条报警缺失",
      "gaps.seq": "序号",
      "gaps.more": "另有 {n} 处",
      "sites": "厂区与网关",
      "feed": "实时告警",
      "trends": "关键测点（近15分钟）",
      "feed.empty": "暂无活动告警",
      "conn.live": "实时",
      "conn.connecting": "连接中…",
      "conn.offline": "已断开，重试中",
      "gw.online": "在线",
      "gw.offline": "离线",
      "state.open": "未确认",
      "state.acknowledged": "已确认",
      "state.resolved": "已解除",
      "state.shelved": "已搁置",
      "state.suppressed": "已抑制",
      "sev.critical": "严重",
      "sev.warning": "警告",
      "sev.info": "提示",
      "login.title": "使用令牌登录",
      "login.token": "API 令牌",
      "login.submit": "登录",
      "login.bad": "令牌无效",
      "logout": "退出",
      "list.empty": "您负责的厂区暂无未处理告警",
      "back": "返回",
      "detail.why": "触发原因",
      "detail.value": "测量值",
      "detail.expected": "正常范围",
      "detail.above": "高于正常范围",
      "detail.below": "低于正常范围",
      "detail.score": "异常评分",
      "detail.rule": "规则",
      "detail.started": "开始时间",
      "detail.trend": "近期趋势",
      "detail.actions": "处理记录",
      "detail.masked": "敏感测点，数值已隐藏",
      "comment": "备注",
      "comment.placeholder": "现场情况或处理措施",
      "do.acknowledge": "确认",
      "do.resolve": "解除",
      "done": "已保存",
      "error": "错误",
      "points": "个测点",
      "nodata": "无数据",
      "escalated": "已升级",
      "rules.title": "监测规则",
      "rules.id": "规则",
      "rules.condition": "条件",
      "rules.scope": "范围",
      "rules.severity": "级别",
      "rules.version": "版本",
      "rules.enabled": "启用",
      "rules.updated": "修改",
      "rules.versions": "版本记录",
      "rules.everywhere": "全园区",
      "rules.enable": "启用",
      "rules.disable": "停用",
      "rules.on": "已启用",
      "rules.off": "已停用",
      "flood": "告警风暴",
      "flood.members": "条告警",
      "lang": "English",
    },
  };

  let lang = localStorage.getItem("pw.lang") ||
    ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en");

  function t(key) {
    return (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
  }

  function applyI18n(root) {
    document.documentElement.lang = lang;
    (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
  }

  function setLang(next) {
    lang = next;
    localStorage.setItem("pw.lang", next);
    applyI18n();
    document.dispatchEvent(new CustomEvent("pw-lang"));
  }

  function bindLangSwitch(button) {
    button.addEventListener("click", () => setLang(lang === "en" ? "zh-CN" : "en"));
  }

  // A token in the URL fragment (#token=pw_...) is stored and removed from the address bar.
  (function takeTokenFromHash() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      localStorage.setItem("pw.token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  })();

  function token() { return localStorage.getItem("pw.token") || ""; }
  function setToken(value) {
    if (value) localStorage.setItem("pw.token", value); else localStorage.removeItem("pw.token");
  }

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    const tok = token();
    if (tok) opts.headers.Authorization = "Bearer " + tok;
    if (opts.json !== undefined) {
      opts.method = opts.method || "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
    }
    const resp = await fetch(path, opts);
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new ApiError(resp.status, body.detail || resp.statusText);
    return body;
  }

  // The live stream: reconnects with ?since=<last seq> so nothing is missed. With a `values`
  // handler it also asks for points' live values (handlers.values(items) on every change).
  function stream(handlers) {
    let last = null;
    let delay = 500;
    let ws = null;
    let stopped = false;
    function status(s) { if (handlers.status) handlers.status(s); }
    function connect() {
      status("connecting");
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const params = [];
      if (last !== null) params.push("since=" + last);
      if (handlers.values) params.push("values=true");
      const q = params.length ? "?" + params.join("&") : "";
      ws = new WebSocket(proto + "//" + location.host + "/api/v1/stream" + q);
      ws.onopen = () => {
        const tok = token();
        if (tok) ws.send(JSON.stringify({ type: "auth", token: tok }));
      };
      ws.onmessage = (msg) => {
        const m = JSON.parse(msg.data);
        if (m.type === "hello") {
          delay = 500;
          status("live");
          if (last === null) last = m.seq;
        } else if (m.type === "alert") {
          last = m.seq;
          handlers.alert(m.alert, m.seq);
        } else if (m.type === "values" && handlers.values) {
          handlers.values(m.items);
        } else if (m.type === "reset") {
          last = m.seq;
          if (handlers.reset) handlers.reset();
        } else if (m.type === "error" && m.status === 401 && handlers.unauthorized) {
          stopped = true;
          handlers.unauthorized();
        }
      };
      ws.onclose = () => {
        status("offline");
        if (stopped) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return { close() { stopped = true; if (ws) ws.close(); } };
  }

  const SVG = "http://www.w3.org/2000/svg";
  function el(tag, attrs, children) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.setAttribute("class", v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children || []) if (c) node.append(c);
    return node;
  }

  // An SVG sparkline of history buckets (mean), with an optional expected band and marker time.
  function sparkline(buckets, opts) {
    const o = Object.assign({ width: 300, height: 80, band: null, markMs: null }, opts || {});
    const svg = el("svg:svg", { viewBox: `0 0 ${o.width} ${o.height}`, class: "spark", preserveAspectRatio: "none" });
    const pts = buckets.filter((b) => b.mean !== null && b.mean !== undefined);
    if (pts.length < 2) {
      svg.append(el("svg:text", { x: 6, y: o.height / 2, class: "spark-nodata", text: t("nodata") }));
      return svg;
    }
    let lo = Math.min(...pts.map((b) => b.mean));
    let hi = Math.max(...pts.map((b) => b.mean));
    if (o.band && o.band[0] !== null && o.band[1] !== null) {
      lo = Math.min(lo, o.band[0]);
      hi = Math.max(hi, o.band[1]);
    }
    if (hi === lo) { hi += 1; lo -= 1; }
    const t0 = pts[0].t_ms;
    const t1 = pts[pts.length - 1].t_ms === t0 ? t0 + 1 : pts[pts.length - 1].t_ms;
    const x = (ms) => ((ms - t0) / (t1 - t0)) * (o.width - 4) + 2;
    const y = (v) => o.height - 3 - ((v - lo) / (hi - lo)) * (o.height - 6);
    if (o.band && o.band[0] !== null && o.band[1] !== null) {
      svg.append(el("svg:rect", {
        x: 0, width: o.width, y: y(o.band[1]), height: Math.max(1, y(o.band[0]) - y(o.band[1])), class: "spark-band",
      }));
    }
    if (o.markMs !== null && o.markMs >= t0 && o.markMs <= t1) {
      svg.append(el("svg:line", { x1: x(o.markMs), x2: x(o.markMs), y1: 0, y2: o.height, class: "spark-mark" }));
    }
    const d = pts.map((b, i) => `${i ? "L" : "M"}${x(b.t_ms).toFixed(1)},${y(b.mean).toFixed(1)}`).join(" ");
    svg.append(el("svg:path", { d, class: "spark-line" }));
    return svg;
  }

  function fmtTime(ms) {
    return new Date(ms).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return "—";
    return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
  }
  // "escalated" (×n after the second time) for an alert escalated for staying unacknowledged.
  function escalatedBadge(a) {
    if (!a.escalation) return null;
    return el("span", {
      class: "escalated", "data-escalation": a.escalation,
      text: t("escalated") + (a.escalation > 1 ? " ×" + a.escalation : ""),
    });
  }
  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  const ACTIVE = ["open", "acknowledged"];

  return {
    t, applyI18n, setLang, bindLangSwitch, token, setToken, api, ApiError, stream, el, sparkline,
    fmtTime, fmtNum, escalatedBadge, SEVERITY_RANK, ACTIVE, get lang() { return lang; },
  };
})();
