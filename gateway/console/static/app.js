// nomnom console. Data comes from the gateway's JSON API with the API key
// the operator typed (sessionStorage, sent as X-API-Key, never in a URL).
// Every value reaches the page through textContent or attributes set by
// the DOM API, never through innerHTML.
"use strict";

const KEY = "nomnom.apiKey";
const STATES = ["accepted", "processing", "retrying", "completed", "failed"];

function apiKey() { return sessionStorage.getItem(KEY) || ""; }

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  const k = apiKey();
  if (k) h["X-API-Key"] = k;
  return h;
}

// el builds an element: attrs are set as properties or attributes, children
// are nodes or strings (text nodes).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function $(sel) { return document.querySelector(sel); }

function showError(msg) {
  const box = $("#error");
  box.textContent = msg;
  box.hidden = !msg;
}

async function api(path, opts) {
  opts = opts || {};
  const res = await fetch(path, {
    method: opts.method || "GET",
    headers: headers(opts.body ? { "Content-Type": "application/json" } : {}),
    body: opts.body ? JSON.stringify(opts.body) : undefined,
    cache: "no-store",
  });
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const m = data && data.error ? data.error.message : res.statusText;
    const err = new Error(res.status + " " + m);
    err.status = res.status;
    throw err;
  }
  return data;
}

function fail(err) {
  if (err.status === 401) showError("The gateway needs an API key: type it above and press Use. (" + err.message + ")");
  else showError(err.message);
}

function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  if (isNaN(d)) return s;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function badge(status) { return el("span", { class: "status s-" + status, "data-status": status, text: status }); }

function shortID(id) { return id.slice(0, 8) + "…"; }

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- key form ----------------------------------------------------------

function setupKey() {
  const input = $("#api-key"), state = $("#key-state");
  const show = () => { state.textContent = apiKey() ? "key set for this tab" : "no key"; };
  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (input.value) sessionStorage.setItem(KEY, input.value);
    input.value = "";
    show();
    location.reload();
  });
  $("#key-forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); show(); location.reload(); });
  show();
}

// ---- live events (Server-Sent Events over fetch, so the key is a header) --

function liveEvents(onRecord) {
  const live = $("#live");
  let last = "";
  const mark = (text, cls) => { if (live) { live.textContent = text; live.className = "live " + cls; } };
  async function connect() {
    try {
      const h = headers({ Accept: "text/event-stream" });
      if (last) h["Last-Event-ID"] = last;
      const res = await fetch("/ingest/events", { headers: h, cache: "no-store" });
      if (!res.ok || !res.body) throw new Error("events: " + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id = "", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) { if (line.includes("ready")) mark("live", "on"); continue; }
            if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (id) last = id;
          if (data) {
            try { onRecord(JSON.parse(data)); } catch (e) { /* skip a bad event */ }
          }
        }
      }
    } catch (e) { /* reconnect below */ }
    mark("reconnecting…", "off");
    setTimeout(connect, 2000);
  }
  connect();
}

// ---- message tables ----------------------------------------------------

function messageRow(rec, opts) {
  const cells = [];
  if (opts.select) cells.push(el("td", {}, el("input", { type: "checkbox", class: "pick", value: rec.message_id, "aria-label": "select " + rec.message_id })));
  cells.push(
    el("td", {}, el("a", { href: "/ui/messages/" + encodeURIComponent(rec.message_id), title: rec.message_id }, el("code", { text: shortID(rec.message_id) }))),
    el("td", { class: "c-status" }, badge(rec.status)),
    el("td", { text: rec.entity_type || "" }),
    el("td", { text: rec.source || "" }),
    el("td", { class: "c-attempts num", text: rec.attempts }),
    el("td", { text: fmtTime(rec.received_at) }),
  );
  if (opts.updated) cells.push(el("td", { class: "c-updated", text: fmtTime(rec.updated_at) }));
  cells.push(el("td", { class: "c-error err", text: rec.error || "", title: rec.error || "" }));
  if (opts.actions) cells.push(el("td", { class: "c-actions" }, redriveButton(rec)));
  return el("tr", { "data-id": rec.message_id, "data-status": rec.status }, ...cells);
}

function redriveButton(rec) {
  if (rec.status !== "failed") return null;
  return el("button", { class: "redrive", onclick: () => dryRun({ ids: [rec.message_id] }) }, "Redrive…");
}

// updateRow applies a live record to its row; it returns false when the
// table has no row of that message.
function updateRow(tbody, rec, opts) {
  const row = tbody.querySelector('tr[data-id="' + CSS.escape(rec.message_id) + '"]');
  if (!row) return false;
  const fresh = messageRow(rec, opts);
  const picked = row.querySelector(".pick");
  if (picked && picked.checked) fresh.querySelector(".pick").checked = true;
  fresh.classList.add("changed");
  row.replaceWith(fresh);
  return true;
}

function filterFromURL(allowed) {
  const q = new URLSearchParams(location.search), f = {};
  for (const k of allowed) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

function fillForm(f) {
  const form = $("#filters");
  // Empty filters stay out of the URL.
  form.addEventListener("submit", () => {
    for (const e of form.elements) if (e.name && !e.value) e.disabled = true;
  });
  for (const [k, v] of Object.entries(f)) if (form.elements[k]) form.elements[k].value = v;
}

function matches(rec, f) {
  return (!f.status || rec.status === f.status) && (!f.entity || rec.entity_type === f.entity) &&
    (!f.source || rec.source === f.source) && !f.since && !f.until &&
    (!f.error || (rec.error || "").toLowerCase().includes(f.error.toLowerCase()));
}

function messageList(filter, opts) {
  const tbody = $("#messages tbody"), more = $("#more"), count = $("#count");
  let cursor = null;
  async function load() {
    const q = new URLSearchParams(filter);
    q.set("limit", "50");
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api("/ingest/messages?" + q.toString());
      for (const rec of page.messages) tbody.append(messageRow(rec, opts));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      count.textContent = tbody.rows.length + " shown";
      showError("");
    } catch (e) { fail(e); }
  }
  more.addEventListener("click", load);
  load();
  liveEvents((rec) => {
    if (updateRow(tbody, rec, opts)) return;
    if (matches(rec, filter)) {
      const row = messageRow(rec, opts);
      row.classList.add("changed");
      tbody.prepend(row);
      count.textContent = tbody.rows.length + " shown";
    }
  });
  return tbody;
}

// ---- redrive: a dry run, then a confirmation ----------------------------

function outcomeTable(ans) {
  return el("table", { class: "outcomes" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "message" }), el("th", { scope: "col", text: "outcome" }), el("th", { scope: "col", text: "redrives" }), el("th", { scope: "col", text: "error" }))),
    el("tbody", {}, ...ans.results.map((r) => el("tr", { "data-id": r.message_id },
      el("td", {}, el("code", { text: r.message_id })),
      el("td", { class: "outcome", text: r.outcome }),
      el("td", { class: "num", text: r.redrives }),
      el("td", { class: "err", text: r.error || "" })))));
}

function counts(ans) {
  return Object.entries(ans.counts).map(([k, v]) => v + " " + k.replace(/_/g, " ")).join(", ") || "nothing selected";
}

async function dryRun(req) {
  const panel = $("#redrive-panel");
  panel.hidden = false;
  panel.replaceChildren(el("p", { text: "Dry run…" }));
  try {
    const ans = await api("/ingest/dlq/redrive", { method: "POST", body: Object.assign({}, req, { dry_run: true }) });
    const n = ans.counts.would_redrive || 0;
    const confirm = el("button", { id: "redrive-confirm", class: "danger", disabled: n === 0 }, "Confirm redrive of " + n);
    confirm.addEventListener("click", () => doRedrive(req));
    panel.replaceChildren(
      el("h2", { text: "Dry run: nothing has moved yet" }),
      el("p", { id: "redrive-summary", text: counts(ans) + (ans.more ? " (the filter selects more; repeat after this one)" : "") + " · loop guard: at most " + ans.max_redrives + " redrives a message" }),
      outcomeTable(ans),
      el("p", {}, confirm, " ", el("button", { onclick: () => { panel.hidden = true; } }, "Cancel")));
  } catch (e) {
    panel.replaceChildren(el("p", { class: "err", text: "Dry run failed: " + e.message }));
  }
}

async function doRedrive(req) {
  const panel = $("#redrive-panel");
  panel.replaceChildren(el("p", { text: "Redriving…" }));
  try {
    const ans = await api("/ingest/dlq/redrive", { method: "POST", body: Object.assign({}, req, { dry_run: false }) });
    panel.replaceChildren(
      el("h2", { text: "Redrive done" }),
      el("p", { id: "redrive-summary", text: counts(ans) }),
      outcomeTable(ans),
      el("p", {}, el("button", { onclick: () => { panel.hidden = true; } }, "Close")));
  } catch (e) {
    panel.replaceChildren(el("p", { class: "err", text: "Redrive failed: " + e.message }));
  }
}

// ---- pages -------------------------------------------------------------

const pages = {};

pages.overview = async function () {
  try {
    const ov = await api("/ui/api/overview");
    const byStatus = {}, byEntity = {};
    for (const c of ov.counts || []) {
      byStatus[c.status] = (byStatus[c.status] || 0) + c.count;
      const e = c.entity || "(none)";
      byEntity[e] = byEntity[e] || {};
      byEntity[e][c.status] = (byEntity[e][c.status] || 0) + c.count;
    }
    const dl = ov.dead_letters ? ov.dead_letters.messages : 0;
    fill($("#status-cards"), [
      ...STATES.map((s) => el("a", { class: "card s-" + s, href: "/ui/messages?status=" + s, "data-status": s },
        el("span", { class: "n", text: byStatus[s] || 0 }), el("span", { text: s }))),
      el("a", { class: "card dlq", href: "/ui/dlq", id: "dlq-size" }, el("span", { class: "n", text: dl }), el("span", { text: "in the DLQ" })),
    ]);
    $("#window").textContent = "received in the last " + ov.window.replace(/0m0s$/, "");
    const head = $("#by-entity thead tr");
    head.replaceChildren(el("th", { scope: "col", text: "entity" }), ...STATES.map((s) => el("th", { scope: "col", text: s })));
    fill($("#by-entity tbody"), Object.keys(byEntity).sort().map((e) =>
      el("tr", {}, el("td", {}, el("a", { href: "/ui/messages?entity=" + encodeURIComponent(e === "(none)" ? "" : e), text: e })),
        ...STATES.map((s) => el("td", { class: "num", text: byEntity[e][s] || 0 })))));
    const tp = ov.throughput || [];
    const max = Math.max(1, ...tp.map((m) => Math.max(m.received, m.completed)));
    fill($("#throughput"), tp.map((m) => el("div", { class: "bar", title: fmtTime(m.at) + ": " + m.received + " received, " + m.completed + " completed" },
      el("span", { class: "received", "data-h": Math.round(100 * m.received / max) }),
      el("span", { class: "completed", "data-h": Math.round(100 * m.completed / max) }))));
    for (const s of document.querySelectorAll("#throughput span")) s.style.height = s.dataset.h + "%";
    fill($("#consumers tbody"), ov.consumers.map((c) => el("tr", {},
      el("td", { text: c.name }), el("td", { class: "num", text: c.pending }), el("td", { class: "num", text: c.ack_pending }), el("td", { class: "num", text: c.redelivered }))));
    const st = ov.stream;
    $("#streams").textContent = (st ? "stream " + st.name + ": " + st.messages + " messages, " + st.bytes + " bytes" : "no stream yet") +
      (ov.dead_letters ? " · " + ov.dead_letters.name + ": " + dl + " messages" : "") +
      (ov.problems.length ? " · " + ov.problems.join("; ") : "");
    const recent = await api("/ingest/messages?limit=10");
    fill($("#recent tbody"), recent.messages.map((r) => messageRow(r, {})));
    showError("");
  } catch (e) { fail(e); }
};

pages.messages = function () {
  const f = filterFromURL(["status", "entity", "source", "since", "until", "error"]);
  fillForm(f);
  messageList(f, { updated: true, actions: true });
};

pages.dlq = function () {
  const f = filterFromURL(["entity", "source", "since", "until", "error"]);
  fillForm(f);
  const filter = Object.assign({ status: "failed" }, f);
  const tbody = messageList(filter, { updated: true, actions: true, select: true });
  const sel = $("#redrive-selected");
  const picked = () => [...tbody.querySelectorAll(".pick:checked")].map((c) => c.value);
  tbody.addEventListener("change", () => { sel.disabled = picked().length === 0; });
  $("#select-all").addEventListener("change", (ev) => {
    for (const c of tbody.querySelectorAll(".pick")) c.checked = ev.target.checked;
    sel.disabled = picked().length === 0;
  });
  sel.addEventListener("click", () => dryRun({ ids: picked() }));
  $("#redrive-filter").addEventListener("click", () => dryRun({ filter: f }));
};

pages.message = function () {
  const id = document.body.dataset.messageId;
  async function load() {
    try {
      const d = await api("/ingest/messages/" + encodeURIComponent(id));
      const dl = $("#summary");
      const rows = [["status", badge(d.status)], ["entity", d.entity_type || "—"], ["source", d.source || "—"],
        ["attempts", d.attempts], ["redrives", d.redrives || 0], ["received", fmtTime(d.received_at)],
        ["updated", fmtTime(d.updated_at)], ["completed", fmtTime(d.completed_at) || "—"], ["error", d.error || "—"]];
      dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { class: "f-" + k }, v)]));
      $("#actions").replaceChildren(...[redriveButton(d)].filter(Boolean));
      fill($("#timeline"), (d.history || []).map((h) => el("li", { class: "s-" + h.status },
        badge(h.status), " ", el("time", { text: fmtTime(h.at) }), h.attempt ? " · attempt " + h.attempt : "",
        h.error ? el("div", { class: "err", text: h.error }) : null)));
      fill($("#attempt-errors tbody"), (d.errors || []).map((e) => el("tr", {},
        el("td", { class: "num", text: e.attempt }), el("td", {}, badge(e.status)), el("td", { text: fmtTime(e.at) }), el("td", { class: "err", text: e.error }))));
      fill($("#written tbody"), Object.entries(d.entities || {}).map(([t, n]) => el("tr", {},
        el("td", {}, el("a", { href: "/ui/entities#" + encodeURIComponent(t), text: t })), el("td", { class: "num", text: n }))));
      $("#body").textContent = d.body === null || d.body === undefined ? "(no copy retained in the stream or the DLQ)" : JSON.stringify(d.body, null, 2);
      $("#body-from").textContent = d.body_from ? "from the " + d.body_from.replace("_", " ") + " stream" : "";
      showError("");
    } catch (e) { fail(e); }
  }
  load();
  liveEvents((rec) => { if (rec.message_id === id) load(); });
};

pages.entities = async function () {
  async function rows(table) {
    try {
      const r = await api("/ui/api/entities/" + encodeURIComponent(table) + "?limit=20");
      $("#rows-section").hidden = false;
      $("#rows-table").textContent = r.table;
      $("#rows-order").textContent = "ordered by " + r.ordered_by.join(", ") + ", highest first";
      $("#rows thead").replaceChildren(el("tr", {}, ...r.fields.map((f) => el("th", { scope: "col", text: f }))));
      fill($("#rows tbody"), r.rows.map((row) => el("tr", {}, ...row.map((v) => el("td", { class: v === null ? "null" : "", text: v === null ? "null" : v })))));
      showError("");
    } catch (e) { fail(e); }
  }
  try {
    const ans = await api("/ui/api/entities");
    fill($("#tables tbody"), ans.tables.map((t) => el("tr", { "data-table": t.table },
      el("td", {}, el("code", { text: t.table })), el("td", { text: t.entity }), el("td", { text: t.worker }),
      el("td", { text: t.keys.join(", ") }),
      el("td", { class: "num", text: t.rows === null ? (t.problem || "") : (t.at_least ? "≥ " : "") + t.rows }),
      el("td", {}, el("button", { onclick: () => rows(t.table) }, "Recent rows")))));
    if (ans.problems.length) showError(ans.problems.join("; "));
    const want = decodeURIComponent(location.hash.slice(1));
    if (want && ans.tables.some((t) => t.table === want)) rows(want);
    else if (ans.tables.length) rows((ans.tables.find((t) => t.rows > 0) || ans.tables[0]).table);
  } catch (e) { fail(e); }
};

document.addEventListener("DOMContentLoaded", () => {
  setupKey();
  const p = pages[document.body.dataset.page];
  if (p) p();
});
