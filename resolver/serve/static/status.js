// The gateway's status page: polls status.json and draws it. No framework and no build step;
// the page's CSP allows no inline script or style, so everything is built with DOM calls and
// coloured by classes (status.css), and text goes in as text, never as HTML.
"use strict";

(function () {
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const NODE_H = 36;
  const GAP_Y = 14;
  const GAP_X = 70;
  const CHAR_W = 7.3; // the monospace font at 12px, to size each column's boxes

  function el(name, attrs, text) {
    const node = name.startsWith("svg:")
      ? document.createElementNS(SVG, name.slice(4))
      : document.createElement(name);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ago(now, at) {
    const s = Math.max(0, Math.round(now - at));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }

  function clock(at) {
    return new Date(at * 1000).toLocaleTimeString();
  }

  // A node's class: its health for a model in use, else why it is not used.
  function status(model) {
    if (model.kind === "group") return "group";
    if (model.state !== "ok") return model.state; // disabled, nokey
    return model.health.status === "in rotation" ? "in-rotation" : model.health.status;
  }

  function statusText(model) {
    if (model.kind === "group") return "group";
    if (model.state !== "ok") return model.detail || model.state;
    const h = model.health;
    if (h.status === "out") return "out " + Math.ceil(h.out_for_s) + " s";
    if (h.status === "probing") return "probing";
    return h.failures ? "in rotation (" + h.failures + " failed)" : "in rotation";
  }

  // Columns by the longest path of fallback edges leading to a model (a chain reads left to
  // right); the edges are acyclic after validation, and the loop is bounded all the same.
  function layers(models, edges) {
    const layer = new Map(models.map((m) => [m.id, 0]));
    for (let pass = 0; pass < models.length; pass++) {
      let moved = false;
      for (const e of edges) {
        const next = layer.get(e.source) + 1;
        if (layer.has(e.target) && next > layer.get(e.target) && next < models.length) {
          layer.set(e.target, next);
          moved = true;
        }
      }
      if (!moved) break;
    }
    const columns = [];
    for (const m of models) {
      const at = layer.get(m.id);
      (columns[at] = columns[at] || []).push(m);
    }
    return columns.filter((c) => c);
  }

  function drawGraph(data) {
    const holder = document.getElementById("graph");
    const models = data.models;
    if (!models.length) {
      holder.replaceChildren(el("p", { class: "empty" }, "no fallback edges in this config"));
      return;
    }
    const columns = layers(models, data.edges);
    const place = new Map();
    let x = 10;
    let height = 0;
    for (const column of columns) {
      const width = Math.max(...column.map((m) => Math.max(m.id.length, 18))) * CHAR_W + 20;
      column.forEach((m, i) => {
        place.set(m.id, { x: x, y: 10 + i * (NODE_H + GAP_Y), w: width });
      });
      height = Math.max(height, 10 + column.length * (NODE_H + GAP_Y));
      x += width + GAP_X;
    }
    const svg = el("svg:svg", { width: x, height: height + 10, role: "img" });
    svg.appendChild(el("svg:title", {}, "fallback graph of env " + data.env));
    const defs = el("svg:defs");
    const marker = el("svg:marker", {
      id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    });
    marker.appendChild(el("svg:path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    for (const e of data.edges) {
      const a = place.get(e.source);
      const b = place.get(e.target);
      if (!a || !b) continue;
      const x1 = a.x + a.w;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x;
      const y2 = b.y + NODE_H / 2;
      const bend = Math.max(30, Math.abs(x2 - x1) / 2);
      const classes = ["edge"];
      if (e.member) classes.push("member");
      if (e.inert) classes.push("inert");
      if (e.downgrade) classes.push("downgrade");
      const path = el("svg:path", {
        d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
        class: classes.join(" "),
        "marker-end": "url(#arrow)",
        "data-source": e.source,
        "data-target": e.target,
      });
      path.appendChild(el("svg:title", {}, e.source + " \u2192 " + e.target));
      svg.appendChild(path);
      if (!e.member) {
        svg.appendChild(el("svg:text", { x: x1 + 4, y: y1 - 4, class: "order" }, "#" + e.order));
      }
    }
    for (const m of models) {
      const p = place.get(m.id);
      const cls = status(m);
      const g = el("svg:g", {
        class: "node " + cls, "data-model": m.id, "data-status": cls,
        transform: `translate(${p.x} ${p.y})`,
      });
      g.appendChild(el("svg:rect", { width: p.w, height: NODE_H, rx: 5 }));
      g.appendChild(el("svg:text", { x: 8, y: 15 }, m.id));
      g.appendChild(el("svg:text", { x: 8, y: 29, class: "state" }, statusText(m)));
      if (m.health && m.health.last_error) {
        g.appendChild(el("svg:title", {}, m.id + ": last error " + m.health.last_error));
      }
      svg.appendChild(g);
    }
    holder.replaceChildren(svg);
  }

  function bars(minutes, id) {
    const w = 6;
    const h = 24;
    const series = minutes.map((m) => m.models[id] || { calls: 0, fallbacks: 0, errors: 0 });
    const top = Math.max(1, ...series.map((c) => Math.max(c.calls, c.errors)));
    const svg = el("svg:svg", { width: series.length * w * 3 + 4, height: h, class: "bars" });
    series.forEach((c, i) => {
      ["calls", "fallbacks", "errors"].forEach((kind, k) => {
        const bar = Math.round((c[kind] / top) * (h - 2));
        if (!bar) return;
        svg.appendChild(el("svg:rect", {
          x: i * w * 3 + k * w, y: h - bar, width: w - 1, height: bar, class: kind,
        }));
      });
    });
    const title = series.map((c) => `${c.calls}/${c.fallbacks}/${c.errors}`).join("  ");
    svg.appendChild(el("svg:title", {}, "calls/fallbacks/errors by minute: " + title));
    return svg;
  }

  function drawCounts(data) {
    const body = document.querySelector("#counts tbody");
    const known = new Map(data.models.map((m) => [m.id, m]));
    const ids = [...new Set([...Object.keys(data.totals), ...known.keys()])].sort();
    document.getElementById("minutes-count").textContent = String(data.minutes.length);
    const rows = ids.map((id) => {
      const t = data.totals[id] || { calls: 0, served: 0, fallbacks: 0, errors: 0 };
      const m = known.get(id);
      const tr = el("tr", { "data-model": id });
      tr.appendChild(el("td", {}, id));
      tr.appendChild(el("td", { class: m ? status(m) : "" }, m ? statusText(m) : ""));
      for (const kind of ["calls", "served", "fallbacks", "errors"]) {
        tr.appendChild(el("td", { class: "n" }, String(t[kind])));
      }
      const cell = el("td");
      cell.appendChild(bars(data.minutes, id));
      tr.appendChild(cell);
      return tr;
    });
    body.replaceChildren(...rows);
  }

  function reasonText(reasons) {
    if (!reasons.length) return "";
    return reasons.map((r) => {
      if (r.skipped && !r.error) return r.model + " skipped: " + r.skipped;
      const status = r.status === null ? "" : " " + r.status;
      return r.model + ": " + r.error + status + (r.skipped ? " (" + r.skipped + ")" : "");
    }).join("; ");
  }

  function drawFallbacks(data) {
    const body = document.querySelector("#fallbacks tbody");
    if (!data.fallbacks.length) {
      const td = el("td", { colspan: 4, class: "empty" }, "no fallback since the gateway started");
      const tr = el("tr");
      tr.appendChild(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(...data.fallbacks.map((f) => {
      const tr = el("tr", { class: "fallback", "data-requested": f.requested, "data-served": f.served });
      const when = el("td", {}, ago(data.now, f.at));
      when.setAttribute("title", clock(f.at));
      tr.appendChild(when);
      tr.appendChild(el("td", {}, f.requested));
      tr.appendChild(el("td", {}, f.served));
      tr.appendChild(el("td", {}, reasonText(f.reasons)));
      return tr;
    }));
  }

  function drawBudgets(data) {
    document.getElementById("budgets-section").hidden = !data.budgets.length;
    const usd = (x) => "$" + x.toFixed(4);
    document.querySelector("#budgets tbody").replaceChildren(...data.budgets.map((b) => {
      const tr = el("tr", { class: b.left > 0 ? "budget" : "budget spent", "data-budget": b.id });
      tr.appendChild(el("td", {}, b.id));
      tr.appendChild(el("td", {}, b.scope === "env" ? "every call" : b.scope + " " + b.target));
      for (const text of [b.window, usd(b.amount), usd(b.spent), usd(b.reserved), usd(b.left)]) {
        tr.appendChild(el("td", {}, text));
      }
      return tr;
    }));
  }

  function drawConfig(data) {
    const dl = document.getElementById("config");
    const items = [];
    const add = (term, text, cls) => {
      items.push(el("dt", {}, term));
      items.push(el("dd", cls ? { class: cls } : {}, text));
    };
    const o = data.origin;
    add("env", String(o.env));
    if (o.snapshot) add("snapshot", o.snapshot);
    if (o.config_path) add("config path", o.config_path);
    if (o.config_dirs && o.config_dirs.length) add("config dirs", o.config_dirs.join("\n"));
    if (o.overrides && o.overrides.length) add("overrides", o.overrides.join("\n"));
    add("health", data.health.enabled ? "store: " + data.health.store : "off");
    add("loaded", clock(data.started) + " (" + ago(data.now, data.started) + ")");
    const r = data.reload;
    if (!r) {
      add("last reload", "none since the gateway started");
    } else if (r.ok) {
      add("last reload", "ok at " + clock(r.at) + " (" + ago(data.now, r.at) + ")", "good");
    } else {
      const text = "refused at " + clock(r.at) + ", the previous config serves:\n" + r.problems;
      add("last reload", text, "bad");
    }
    dl.replaceChildren(...items);
  }

  function draw(data) {
    const out = data.models.filter((m) => m.health && m.health.status !== "in rotation").length;
    const served = Object.values(data.totals).reduce((n, t) => n + t.calls, 0);
    document.getElementById("summary").textContent =
      `env ${data.env}: ${data.models.length} models in the graph, ${out} out of rotation, ` +
      `${served} calls in the last ${data.minutes.length} minutes; updated ${clock(data.now)}`;
    drawConfig(data);
    drawGraph(data);
    drawCounts(data);
    drawFallbacks(data);
    drawBudgets(data);
  }

  async function poll() {
    const stale = document.getElementById("stale");
    try {
      const response = await fetch("status.json", { cache: "no-store", credentials: "same-origin" });
      if (!response.ok) throw new Error("status.json answered " + response.status);
      draw(await response.json());
      stale.hidden = true;
    } catch (error) {
      // Shown on the page, not thrown: the last good view stays, marked stale.
      stale.textContent = "not updated: " + error.message + "; retrying";
      stale.hidden = false;
    }
    window.setTimeout(poll, POLL_MS);
  }

  poll();
})();
