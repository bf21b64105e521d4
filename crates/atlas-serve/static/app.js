// arxiv-atlas web page: talks to the JSON API of the same server; no framework, no network besides it.
"use strict";
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (_) { /* non-JSON answer */ }
  if (!resp.ok) {
    const e = new Error((data && data.error && data.error.message) || `${resp.status} ${resp.statusText}`);
    e.code = data && data.error && data.error.code;
    e.status = resp.status;
    throw e;
  }
  return data;
}

function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") n.className = v; else n.setAttribute(k, v);
  }
  for (const c of children) n.append(c);
  return n;
}

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = !msg;
}

function renderChart(result) {
  const chart = $("chart");
  chart.replaceChildren();
  const max = Math.max(...result.probabilities.map((p) => p.probability), 1e-9);
  result.probabilities.forEach((p, i) => {
    const label = el("div", { class: "label", title: `${p.category} — ${p.name}` }, el("code", {}, p.category), " ", p.name);
    const bar = el("div", { class: i === 0 ? "bar top" : "bar" });
    bar.style.width = `${(100 * p.probability / max).toFixed(1)}%`;
    chart.append(label, el("div", { class: "track" }, bar), el("div", { class: "pct" }, `${(100 * p.probability).toFixed(1)}%`));
    // Why: the paper's terms that raised this category's score (TF-IDF models and ensembles).
    const why = result.explanations && result.explanations[i];
    if (why && why.terms.length) {
      chart.append(el("div", { class: "why" }, "because of: ",
        ...why.terms.map((t) => el("span", { class: "term", title: `+${t.contribution.toFixed(3)}` }, t.term))));
    }
  });
  $("prediction").textContent = `→ ${result.category} (${result.name}) · model ${result.model}`;
}

function renderPapers(list, results) {
  list.replaceChildren();
  for (const h of results) {
    const meta = [h.categories.join(" "), h.year, h.authors.slice(0, 3).join(", "), `score ${h.score.toFixed(3)}`]
      .filter((x) => x !== null && x !== undefined && x !== "").join(" · ");
    list.append(el("li", {}, el("a", { href: h.url, target: "_blank", rel: "noopener" }, h.title || h.id),
      el("div", { class: "meta" }, `${h.id} · ${meta}`)));
  }
}

// Whether the server has a classifier (a server of embeddings and search only answers classify with 503
// `model_unavailable`; the page then shows similar papers alone).
let hasModel = true;

function note(id, msg) {
  $(id).textContent = msg || "";
  $(id).hidden = !msg;
}

async function neighbours(query) {
  try {
    const r = await api("POST", "/v1/search", { ...query, k: 10 });
    renderPapers($("neighbours"), r.results);
    note("neighbours-note", r.results.length ? "" : "No similar papers found.");
  } catch (e) {
    $("neighbours").replaceChildren();
    note("neighbours-note", e.code === "index_unavailable" ? "No index loaded: start the server with --index to see similar papers." : e.message);
  }
}

$("classify-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("");
  const btn = $("classify-btn");
  btn.disabled = true;
  try {
    const id = $("arxiv-id").value.trim();
    let title = $("title").value, abstract = $("abstract").value, query;
    if (id && !title.trim()) {
      const p = await api("GET", `/v1/papers/${encodeURIComponent(id).replace(/%2F/gi, "/")}`);
      title = p.title;
      abstract = "";
      query = { id };
    } else {
      query = { title, abstract };
    }
    if (hasModel) {
      try {
        renderChart(await api("POST", "/v1/classify", { title, abstract, top_k: 10, explain: true }));
        note("chart-note", "");
      } catch (e) {
        if (e.code !== "model_unavailable") throw e;
        hasModel = false;
      }
    }
    if (!hasModel) {
      $("chart").replaceChildren();
      $("prediction").textContent = "";
      note("chart-note", "No classifier loaded (start the server with --model RUN to classify); similar papers below.");
    }
    $("result-card").hidden = false;
    await neighbours(query);
  } catch (e) {
    showError(e.message);
  } finally {
    btn.disabled = false;
  }
});

$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("search-text").value;
  const btn = $("search-btn");
  btn.disabled = true;
  try {
    const r = await api("POST", "/v1/search", { text, k: 10 });
    renderPapers($("search-results"), r.results);
    note("search-note", r.results.length ? "" : "No results.");
  } catch (e) {
    $("search-results").replaceChildren();
    note("search-note", e.message);
  } finally {
    btn.disabled = false;
  }
});

api("GET", "/info").then((i) => {
  hasModel = Boolean(i.model);
  const parts = [hasModel ? `model ${i.model.version} (${i.classes} categories)` : "no classifier (search only)"];
  if (!hasModel) $("classify-btn").textContent = "Find similar";
  if (i.index) parts.push(`index: ${i.index.count} papers (${i.index.backend})`);
  $("model-info").textContent = parts.join(" · ");
}).catch(() => {});
