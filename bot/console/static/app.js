// opsbot console: a Telegram Mini App without Telegram's script. Telegram passes its launch parameters in
// the URL fragment (#tgWebAppData=…&tgWebAppThemeParams=…); the signed initData goes to the server with
// every request as `Authorization: tma <initData>`. Opened from a login link instead, the session cookie
// does that. Everything shown is built with textContent: nothing from the server is parsed as HTML.
"use strict";

const KEY = "opsbot.console.initData";
const state = { initData: "", me: null };

// -- launch parameters and theme ---------------------------------------------------------------
function readLaunch() {
  const hash = location.hash.slice(1);
  if (hash.includes("tgWebAppData=") || hash.includes("tgWebAppThemeParams=")) {
    const params = new URLSearchParams(hash);
    const data = params.get("tgWebAppData");
    if (data) sessionStorage.setItem(KEY, data);
    const theme = params.get("tgWebAppThemeParams");
    if (theme) sessionStorage.setItem(KEY + ".theme", theme);
    history.replaceState(null, "", location.pathname + location.search + "#/incidents");
  }
  state.initData = sessionStorage.getItem(KEY) || "";
  applyTheme(sessionStorage.getItem(KEY + ".theme"));
}

function applyTheme(raw) {
  if (!raw) return;
  let theme;
  try { theme = JSON.parse(raw); } catch (e) { return; }
  for (const [name, value] of Object.entries(theme || {})) {
    if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
      document.documentElement.style.setProperty("--tg-" + name.replace(/_/g, "-"), value);
    }
  }
}

// Tell the Telegram client the page is ready and may take the full height (its documented events).
function postEvent(type, data) {
  const body = JSON.stringify(data || {});
  try {
    if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, body);
    else if (window.external && "notify" in window.external) window.external.notify(JSON.stringify({ eventType: type, eventData: data || {} }));
    else if (window.parent !== window) window.parent.postMessage(JSON.stringify({ eventType: type, eventData: data || {} }), "https://web.telegram.org");
  } catch (e) { /* not inside Telegram */ }
}

// -- DOM helpers ----------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function toast(text) {
  const el = h("div", { class: "toast", role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 2500);
}

function age(seconds) {
  if (seconds < 60) return seconds + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m";
  if (seconds < 86400) return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  return Math.floor(seconds / 86400) + "d " + Math.floor((seconds % 86400) / 3600) + "h";
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function pct(v, digits) { return v === null || v === undefined ? "—" : v.toFixed(digits === undefined ? 2 : digits) + "%"; }

// -- the server ------------------------------------------------------------------------------------
class Unauthorized extends Error {}

async function api(path, options) {
  const opts = Object.assign({ method: "GET", credentials: "same-origin", headers: {} }, options || {});
  if (state.initData) opts.headers.Authorization = "tma " + state.initData;
  if (opts.json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  const res = await fetch("api/" + path, opts);
  if (res.status === 401) throw new Unauthorized();
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

// -- pages -----------------------------------------------------------------------------------------
function sevBadge(severity) { return h("span", { class: "sev " + severity }, severity); }

function ackButton(label, path, after) {
  return h("button", {
    class: "ack",
    onclick: async (e) => {
      e.target.disabled = true;
      try { await api(path, { method: "POST" }); toast("Acknowledged"); } catch (err) { handle(err); }
      after();
    },
  }, label);
}

async function pageIncidents(view) {
  const incidents = await api("incidents");
  view.replaceChildren(h("h1", {}, `Open incidents · ${incidents.length}`));
  if (!incidents.length) view.append(h("div", { class: "empty" }, "✅ Nothing is open."));
  for (const inc of incidents) {
    const actions = h("div", { class: "actions" });
    if (inc.state === "firing") actions.append(ackButton("✅ Ack", `incidents/${inc.id}/ack`, route));
    if (state.me && state.me.admin) {
      actions.append(h("button", {
        class: "secondary silence",
        onclick: async (e) => {
          e.target.disabled = true;
          try { await api(`incidents/${inc.id}/silence`, { method: "POST" }); toast("Silenced for 1h"); } catch (err) { handle(err); }
          route();
        },
      }, "🔕 Silence 1h"));
    }
    view.append(h("div", { class: "card incident", "data-id": inc.id, "data-state": inc.state },
      h("div", { class: "row" }, sevBadge(inc.severity),
        h("a", { class: "title grow", href: `#/incident/${inc.id}` }, `#${inc.id} ${inc.title}`)),
      h("div", { class: "meta" },
        h("span", { class: "state " + inc.state }, inc.state), ` · ${age(inc.age_s)} · `,
        `${inc.alerts_total ?? inc.alerts.length} alert(s)`,
        inc.acknowledged_by ? ` · acked by ${inc.acknowledged_by}` : ""),
      actions));
  }
}

async function pageIncident(view, id) {
  const inc = await api(`incidents/${id}`);
  view.replaceChildren(
    h("h1", {}, `#${inc.id} ${inc.title}`),
    h("div", { class: "card" },
      h("div", { class: "row" }, sevBadge(inc.severity), h("span", { class: "state " + inc.state }, inc.state),
        h("span", { class: "meta" }, `opened ${when(inc.opened_at)} · ${age(inc.age_s)}`)),
      inc.acknowledged_by ? h("div", { class: "meta" }, `acknowledged by ${inc.acknowledged_by}`) : null),
    h("h2", {}, "Alerts"));
  for (const a of inc.alerts) {
    view.append(h("div", { class: "card alert", "data-id": a.id },
      h("div", { class: "row" }, sevBadge(a.severity),
        h("span", { class: "grow title" }, a.key ? `${a.source} · ${a.key}` : a.source),
        a.muted ? h("span", { class: "muted-tag" }, `${a.muted.kind} ${a.muted.by}`) : null),
      h("div", { class: "meta" }, a.message),
      h("div", { class: "meta" }, h("span", { class: "state " + a.state }, a.state), ` · #${a.fingerprint} · alert ${a.id}`,
        a.acknowledged_by ? ` · acked by ${a.acknowledged_by}` : ""),
      a.state === "firing" ? h("div", { class: "actions" }, ackButton("✅ Ack", `alerts/${a.id}/ack`, route)) : null));
  }
  view.append(h("h2", {}, "Timeline"));
  view.append(h("div", { class: "card" }, h("ul", { class: "timeline" }, inc.timeline.map((e) =>
    h("li", {}, h("time", {}, when(e.at)), h("b", {}, e.kind), e.actor ? ` · ${e.actor}` : "",
      e.detector ? ` · ${e.detector}` : "", e.detail ? h("div", { class: "meta" }, e.detail) : null)))));
}

function sparkline(history) {
  const w = 240, hgt = 36;
  const points = history.filter((p) => p.total > 0);
  const chart = svg("svg", { class: "chart spark", viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": "pass rate per hour" });
  chart.append(svg("line", { class: "axis", x1: 0, y1: hgt - 1, x2: w, y2: hgt - 1 }));
  if (!points.length) {
    chart.append(svg("text", { x: 4, y: 22 }, "no checks in the last 48 h"));
    return chart;
  }
  const n = Math.max(history.length - 1, 1);
  const xy = history.map((p, i) => [i * w / n, p.total ? 2 + (hgt - 4) * (1 - p.good / p.total) : null]);
  const line = xy.filter((p) => p[1] !== null).map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ");
  chart.append(svg("polyline", { class: "line", points: line }));
  history.forEach((p, i) => {
    if (p.total && p.good < p.total) chart.append(svg("circle", { class: "bad", cx: xy[i][0].toFixed(1), cy: xy[i][1].toFixed(1), r: 2 }));
  });
  return chart;
}

async function pageDetectors(view) {
  const detectors = await api("detectors");
  view.replaceChildren(h("h1", {}, `Detectors · ${detectors.length}`));
  for (const d of detectors) {
    const failing = d.last.filter((c) => !c.ok);
    const last = d.last.length
      ? h("div", { class: "meta" }, failing.length ? h("span", { class: "fail" }, `✖ ${failing.length} of ${d.last.length} failing`) : h("span", { class: "ok" }, `✔ ${d.last.length} ok`),
        ` · ${when(d.last[0].at)}`,
        failing.some((c) => c.message) ? h("div", {}, failing.filter((c) => c.message).slice(0, 3).map((c) => h("div", {}, `${c.key || d.name}: ${c.message}`))) : null)
      : h("div", { class: "meta" }, "not run yet");
    view.append(h("div", { class: "card detector", "data-name": d.name },
      h("div", { class: "row" }, h("span", { class: "title grow" }, d.name), h("span", { class: "meta" }, d.kind),
        d.firing ? h("span", { class: "sev critical" }, `${d.firing} firing`) : null),
      last, sparkline(d.history)));
  }
}

function lineChart(values, opts) {
  // values: numbers or null, one per day; opts: {min, max, target, label, area}
  const w = 300, hgt = 110, left = 30, bottom = 14;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": opts.label });
  const lo = opts.min, hi = opts.max;
  const y = (v) => (hgt - bottom) - (hgt - bottom - 6) * (Math.min(Math.max(v, lo), hi) - lo) / ((hi - lo) || 1);
  const x = (i) => left + (w - left - 4) * (values.length > 1 ? i / (values.length - 1) : 0.5);
  chart.append(svg("line", { class: "axis", x1: left, y1: hgt - bottom, x2: w, y2: hgt - bottom }));
  chart.append(svg("text", { x: 0, y: 10 }, opts.fmt(hi)), svg("text", { x: 0, y: hgt - bottom }, opts.fmt(lo)));
  chart.append(svg("text", { x: left, y: hgt - 2 }, opts.first), svg("text", { x: w - 60, y: hgt - 2 }, opts.last));
  if (opts.target !== undefined) chart.append(svg("line", { class: "target", x1: left, x2: w, y1: y(opts.target), y2: y(opts.target) }));
  const pts = values.map((v, i) => (v === null ? null : [x(i), y(v)])).filter(Boolean);
  if (pts.length) {
    const line = pts.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ");
    if (opts.area) chart.append(svg("polygon", { class: "area", points: `${pts[0][0].toFixed(1)},${hgt - bottom} ${line} ${pts[pts.length - 1][0].toFixed(1)},${hgt - bottom}` }));
    chart.append(svg("polyline", { class: "line", points: line }));
  } else chart.append(svg("text", { x: left + 10, y: 50 }, "no data in the window"));
  return chart;
}

async function pageSlos(view) {
  const slos = await api("slos");
  view.replaceChildren(h("h1", {}, `SLOs · ${slos.length}`));
  if (!slos.length) view.append(h("div", { class: "empty" }, "No SLOs are configured (slos: in opsbot.yaml)."));
  for (const s of slos) {
    const budget = 1 - s.objective / 100;
    const sli = s.daily.map((d) => (d.total ? 100 * d.good / d.total : null));
    let good = 0, total = 0;
    const remaining = s.daily.map((d) => {
      good += d.good; total += d.total;
      return total ? 100 * (1 - (1 - good / total) / budget) : null;
    });
    const lowest = Math.min(s.objective, ...sli.filter((v) => v !== null));
    const first = s.daily.length ? s.daily[0].day : "", last = s.daily.length ? s.daily[s.daily.length - 1].day : "";
    view.append(h("div", { class: "card slo", "data-name": s.name },
      h("div", { class: "row" }, h("span", { class: "title grow" }, s.name), h("span", { class: "state " + (s.state === "ok" ? "" : "firing") }, s.state)),
      h("div", { class: "kv" },
        h("div", {}, h("div", { class: "meta" }, `SLI over ${Math.round(s.window_s / 86400)}d (objective ${s.objective}%)`), h("div", { class: "big" }, pct(s.sli, 3))),
        h("div", {}, h("div", { class: "meta" }, "Error budget left"), h("div", { class: "big" }, pct(s.budget_remaining, 1)))),
      h("h2", {}, "SLI per day"),
      lineChart(sli, { min: Math.max(0, Math.floor(lowest - 0.5)), max: 100, target: s.objective, label: "SLI per day", fmt: (v) => v + "%", first, last }),
      h("h2", {}, "Error budget left over the window"),
      lineChart(remaining, { min: Math.min(0, ...remaining.filter((v) => v !== null)), max: 100, target: 0, area: true, label: "error budget remaining", fmt: (v) => Math.round(v) + "%", first, last })));
  }
}

async function pageSilences(view) {
  const silences = await api("silences");
  view.replaceChildren(h("h1", {}, `Silences · ${silences.length} active`));
  const admin = state.me && state.me.admin;
  for (const s of silences) {
    view.append(h("div", { class: "card silence", "data-id": s.id },
      h("div", { class: "row" }, h("span", { class: "title grow" }, `${s.id} · ${s.target}`),
        admin ? h("button", { class: "secondary expire", onclick: async (e) => {
          e.target.disabled = true;
          try { const r = await api(`silences/${s.id}/expire`, { method: "POST" }); toast(`Ended; ${r.back} alert(s) back`); } catch (err) { handle(err); }
          route();
        } }, "Expire") : null),
      h("div", { class: "meta" }, s.until_resolved ? "until resolved" : `until ${when(s.ends_at)}`, ` · by ${s.created_by} · ${s.reason}`)));
  }
  if (!admin) return;
  const target = h("input", { id: "silence-target", placeholder: "cash_balance, #a1b2c3d4 or team=finance", autocomplete: "off" });
  const duration = h("input", { id: "silence-duration", value: "1h" });
  const reason = h("input", { id: "silence-reason", placeholder: "why (optional)" });
  const preview = h("div", { id: "silence-preview", class: "meta" }, "Type a matcher to see what it would silence.");
  const create = h("button", { id: "silence-create", disabled: true }, "🔕 Create silence");
  let timer = null, asked = "";
  const look = async () => {
    const value = target.value.trim();
    asked = value;
    create.disabled = true;
    if (!value) { preview.replaceChildren("Type a matcher to see what it would silence."); return; }
    try {
      const r = await api("silences/preview", { method: "POST", json: { target: value } });
      if (asked !== value) return;
      const mutes = r.alerts.filter((a) => a.mutes);
      preview.replaceChildren(h("div", { class: "preview-summary" }, `Would silence ${mutes.length} open alert(s)` + (r.alerts.length > mutes.length ? `; ${r.alerts.length - mutes.length} more match but are muted already` : "")),
        h("ul", {}, r.alerts.map((a) => h("li", { class: a.mutes ? "preview-item" : "preview-item already", "data-id": a.id, "data-mutes": String(a.mutes) },
          sevBadge(a.severity), ` ${a.source}${a.key ? " · " + a.key : ""} (alert ${a.id})`, a.mutes ? "" : ` — already ${a.muted_now.kind} by ${a.muted_now.by}`))));
      create.disabled = false;
    } catch (err) {
      if (err instanceof Unauthorized) return handle(err);
      preview.replaceChildren(h("span", { class: "fail" }, err.message));
    }
  };
  target.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(look, 250); });
  create.addEventListener("click", async () => {
    create.disabled = true;
    try {
      const r = await api("silences", { method: "POST", json: { target: target.value.trim(), duration: duration.value.trim(), reason: reason.value.trim() } });
      toast(`Silence ${r.silence.id}: ${r.muted} alert(s) muted`);
      route();
    } catch (err) { handle(err); create.disabled = false; }
  });
  view.append(h("h2", {}, "New silence"), h("div", { class: "card" },
    h("label", { for: "silence-target" }, "Matcher"), target,
    h("label", { for: "silence-duration" }, "For (1m to 90d)"), duration,
    h("label", { for: "silence-reason" }, "Reason"), reason,
    h("h2", {}, "Preview"), preview, h("div", { class: "actions" }, create)));
}

async function pageRuns(view) {
  const runs = await api("runs");
  view.replaceChildren(h("h1", {}, `Remediation runs · ${runs.length}`));
  if (!runs.length) view.append(h("div", { class: "empty" }, "No remediation has run."));
  for (const r of runs) {
    view.append(h("div", { class: "card run", "data-id": r.id },
      h("div", { class: "row" }, h("span", { class: "title grow" }, r.action),
        h("span", { class: r.status === "success" ? "ok" : r.status === "failed" ? "fail" : "meta" }, r.status)),
      h("div", { class: "meta" }, `${when(r.started_at)} · ${r.trigger === "auto" ? "auto" : r.actor || r.trigger}`,
        r.alert_id ? ` · alert ${r.alert_id}` : "", ` · ${r.attempts} attempt(s)`,
        r.duration_ms !== null ? ` · ${(r.duration_ms / 1000).toFixed(1)} s` : ""),
      r.error ? h("div", { class: "meta fail" }, r.error) : null));
  }
}

// -- routing ----------------------------------------------------------------------------------------
function handle(err) {
  const view = document.getElementById("view");
  if (err instanceof Unauthorized) {
    view.replaceChildren(h("div", { class: "card empty", id: "login-needed" },
      h("p", {}, "🔒 Not signed in."),
      h("p", { class: "hint" }, "Open the console from Telegram (the 🖥 Console button), or send /console to the bot in a private chat for a one-time login link.")));
    return;
  }
  toast(err.message);
}

async function route() {
  const view = document.getElementById("view");
  const [, page, id] = (location.hash.match(/^#\/(\w+)(?:\/(\d+))?/) || [null, "incidents", null]);
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.tab === (page === "incident" ? "incidents" : page)));
  try {
    if (!state.me) {
      state.me = await api("me");
      document.getElementById("who").textContent = state.me.name + (state.me.admin ? " · admin" : "");
    }
    const pages = { incidents: pageIncidents, detectors: pageDetectors, slos: pageSlos, silences: pageSilences, runs: pageRuns };
    if (page === "incident" && id) await pageIncident(view, id);
    else await (pages[page] || pageIncidents)(view);
    view.dataset.page = page;
  } catch (err) {
    if (!(err instanceof Unauthorized)) view.replaceChildren(h("div", { class: "card fail" }, err.message));
    handle(err);
  }
}

readLaunch();
window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  postEvent("web_app_ready");
  postEvent("web_app_expand");
  route();
});
