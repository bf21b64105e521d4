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

// A line naming a set of categories (conformal set, label set), or hidden when there is none.
function renderSet(id, heading, set) {
  const n = $(id);
  n.hidden = !set;
  if (!set) return;
  n.replaceChildren(el("strong", {}, heading), " ",
    ...set.map((c) => el("code", { title: `${c.name} · ${(100 * c.probability).toFixed(1)}%` }, c.category)));
}

function renderChart(result) {
  const chart = $("chart");
  chart.replaceChildren();
  const max = Math.max(...result.probabilities.map((p) => p.probability), 1e-9);
  const inSet = new Set((result.category_set || []).map((c) => c.category));
  result.probabilities.forEach((p, i) => {
    const label = el("div", { class: inSet.has(p.category) ? "label in-set" : "label", title: `${p.category} — ${p.name}` },
      el("code", {}, p.category), " ", p.name);
    const bar = el("div", { class: i === 0 ? "bar top" : "bar" });
    bar.style.width = `${(100 * p.probability / max).toFixed(1)}%`;
    chart.append(label, el("div", { class: "track" }, bar), el("div", { class: "pct" }, `${(100 * p.probability).toFixed(1)}%`));
    // Why: the paper's terms that raised this category's score (TF-IDF models and ensembles), and the
    // labelled training papers of the category nearest to it (embedding models and ensembles).
    const why = result.explanations && result.explanations[i];
    if (why && why.terms.length) {
      chart.append(el("div", { class: "why" }, "because of: ",
        ...why.terms.map((t) => el("span", { class: "term", title: `+${t.contribution.toFixed(3)}` }, t.term))));
    }
    if (why && why.neighbours && why.neighbours.length) {
      chart.append(el("div", { class: "why support" }, "like training papers: ",
        ...why.neighbours.map((n) => el("a", { href: n.url, target: "_blank", rel: "noopener",
          title: `${n.id} · ${n.category} · cosine ${n.cosine.toFixed(3)}` }, n.title || n.id))));
    }
  });
  $("prediction").textContent = `→ ${result.category} (${result.name}) · model ${result.model}`;
  renderNearest(result);
  const cov = result.coverage ? `${Math.round(100 * result.coverage)}% category set (${result.category_set.length}):` : "";
  renderSet("category-set", cov, result.coverage ? result.category_set : null);
  renderSet("label-set", `Label set (${(result.label_set || []).length}, per-category thresholds):`, result.label_set || null);
}

// Whether the training papers nearest to the paper, whatever their category, mostly share its predicted
// category; or why an embedding model cannot show supporting papers.
function renderNearest(result) {
  const n = result.nearest;
  if (n && n.papers.length) {
    const count = n.papers.filter((p) => p.category === n.majority).length;
    const verdict = n.agrees ? "agrees with the prediction" : `differs from the prediction ${result.category}`;
    note("nearest-note", `Nearest ${n.papers.length} training papers: ${count} of ${n.majority}, which ${verdict}.`);
  } else {
    note("nearest-note", result.explanation_note || "");
  }
}

// Classify with the chosen coverage. A model without a conformal calibration answers 503
// `calibration_unavailable`: the page then asks again without a set, says why, and stops offering sets.
async function classify(title, abstract) {
  const select = $("coverage");
  const coverage = select.value && !select.disabled ? Number(select.value) : undefined;
  const body = { title, abstract, top_k: 10, explain: true, coverage };
  try {
    return await api("POST", "/v1/classify", body);
  } catch (e) {
    if (e.code !== "calibration_unavailable") throw e;
    select.disabled = true;
    note("set-note", "This model has no conformal calibration, so no category set (`arxiv-atlas calibrate` adds one).");
    return api("POST", "/v1/classify", { ...body, coverage: undefined });
  }
}

// Papers as list items; `action(h)`, when given, returns a button to put after each title.
function renderPapers(list, results, action) {
  list.replaceChildren();
  for (const h of results) {
    const meta = [h.categories.join(" "), h.year, h.authors.slice(0, 3).join(", "), `score ${h.score.toFixed(3)}`]
      .filter((x) => x !== null && x !== undefined && x !== "").join(" · ");
    const item = el("li", { "data-id": h.id }, el("a", { href: h.url, target: "_blank", rel: "noopener" }, h.title || h.id));
    if (action) item.append(action(h));
    item.append(el("div", { class: "meta" }, `${h.id} · ${meta}`));
    list.append(item);
  }
}

// The reading list: [{id, title, url}] in the browser's local storage, so it outlives a reload.
const READING_KEY = "arxiv-atlas.reading-list";
function readingList() {
  try { return JSON.parse(localStorage.getItem(READING_KEY)) || []; } catch (_) { return []; }
}
function saveReadingList(list) {
  localStorage.setItem(READING_KEY, JSON.stringify(list));
  renderReadingList();
}
function button(label, title, onClick) {
  const b = el("button", { type: "button", class: "small", title }, label);
  b.addEventListener("click", onClick);
  return b;
}
function addButton(h) {
  return button("＋", "Add to the reading list", () => {
    const list = readingList();
    if (!list.some((p) => p.id === h.id)) saveReadingList([...list, { id: h.id, title: h.title, url: h.url }]);
  });
}
let recommendSeq = 0;
async function renderReadingList() {
  const list = readingList();
  $("reading-count").textContent = list.length ? `(${list.length})` : "";
  $("reading-empty").hidden = list.length > 0;
  $("reading-list").replaceChildren(...list.map((p) => el("li", { "data-id": p.id },
    el("a", { href: p.url, target: "_blank", rel: "noopener" }, p.title || p.id),
    button("✕", "Remove from the reading list", () => saveReadingList(readingList().filter((q) => q.id !== p.id))))));
  const seq = ++recommendSeq;
  if (!list.length) {
    $("recommendations").replaceChildren();
    note("recommend-note", "");
    return;
  }
  try {
    const r = await api("POST", "/v1/recommend", { ids: list.map((p) => p.id), k: 10 });
    if (seq !== recommendSeq) return; // a newer list is being answered
    renderPapers($("recommendations"), r.results, addButton);
    note("recommend-note", r.results.length ? "" : "No recommendations.");
  } catch (e) {
    if (seq !== recommendSeq) return;
    $("recommendations").replaceChildren();
    note("recommend-note", e.message);
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
        renderChart(await classify(title, abstract));
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
    renderPapers($("search-results"), r.results, addButton);
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
renderReadingList();
