// Drives the arxiv-atlas web page in headless Chromium (Debian's /usr/bin/chromium through playwright-core,
// no browser download): paste a paper → bar chart + neighbours; an arXiv id → neighbours; the search box; the
// reading list (add from search results, recommendations, kept over a reload, remove). With `"searchOnly": true`
// in the query, the page of a server without a classifier; with `"mode": "embedding"`, an embedding model's
// supporting training papers; with `"mode": "uncalibrated"`, the fallback of a model without a conformal
// calibration (and without stored training papers).
//   node tests/web/page.test.mjs http://127.0.0.1:PORT '{"title": ..., "abstract": ..., "id": ...}' [screenshot.png]
// Run by crates/atlas-serve/tests/web.rs against an in-process server; install with scripts/setup-web-test.sh.
import assert from "node:assert/strict";
import { check, finish, launch } from "./harness.mjs";

const [url, queryJson, screenshot] = process.argv.slice(2);
const query = JSON.parse(queryJson);
const browser = await launch();

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Failed HTTP answers are checked below by status; the browser's own "Failed to load resource" echo of them
  // is not a separate problem.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  const failedAnswers = [];
  page.on("response", (r) => { if (r.status() >= 400) failedAnswers.push(`${r.status()} ${r.url().slice(url.length)}`); });
  page.on("request", (r) => { if (!r.url().startsWith(url)) problems.push(`remote request: ${r.url()}`); });
  await page.goto(url);

  if (query.mode === "embedding" || query.mode === "uncalibrated") {
    // A served embedding model (no index: similar papers answer 503 `index_unavailable`, noted on the page).
    await page.waitForFunction(() => document.querySelector("#model-info").textContent.includes("categories"),
      null, { timeout: 15000 });
    // Submits the paper and waits for the classification (200) and the similar-paper answer that follows it.
    const classifyOnce = async () => {
      await page.fill("#title", query.title);
      await page.fill("#abstract", query.abstract);
      const classified = page.waitForResponse((r) => r.url().endsWith("/v1/classify") && r.status() === 200,
        { timeout: 30000 });
      const searched = page.waitForResponse((r) => r.url().endsWith("/v1/search"), { timeout: 30000 });
      await page.click("#classify-btn");
      await classified;
      await searched;
      await page.waitForSelector("#chart .bar", { timeout: 15000 });
      await page.waitForSelector("#neighbours-note:not([hidden])", { timeout: 15000 });
    };
    if (query.mode === "embedding") {
      await check("embedding model: each category lists its nearest training papers, linked to arXiv", async () => {
        await classifyOnce();
        const codes = await page.$$eval("#chart .label code", (cs) => cs.map((c) => c.textContent));
        const support = await page.$$eval("#chart .why.support", (ws) => ws.map((w) =>
          [...w.querySelectorAll("a")].map((a) => ({ href: a.href, title: a.title, text: a.textContent }))));
        assert.equal(support.length, codes.length, "a list under every category");
        support.forEach((links, i) => {
          assert.equal(links.length, 3, `${codes[i]}: ${links.length} papers`);
          for (const l of links) {
            assert.match(l.href, /^https:\/\/arxiv\.org\/abs\/\S+$/);
            // The tooltip names the paper's id and its category, which is the row's.
            assert.ok(l.title.includes(` · ${codes[i]} · cosine `), `${l.title} under ${codes[i]}`);
            assert.ok(l.text.length > 0);
          }
        });
        assert.equal(await page.$$eval("#chart .term", (ts) => ts.length), 0, "an embedding model names no terms");
        assert.match(await page.textContent("#nearest-note"),
          /^Nearest 10 training papers: \d+ of \S+, which (agrees with the prediction|differs from the prediction \S+)\.$/);
        assert.equal(await page.isHidden("#category-set"), false, "the trained model is calibrated");
      });
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
      await check("embedding model: no page errors, no remote requests, only the missing index's 503", async () => {
        assert.deepEqual(problems, []);
        assert.deepEqual(failedAnswers, ["503 /v1/search"]);
      });
    } else {
      await check("uncalibrated model: no category set, a note saying why, the chart still drawn", async () => {
        await classifyOnce();
        assert.match(await page.textContent("#set-note"), /no conformal calibration/);
        assert.equal(await page.isHidden("#set-note"), false);
        assert.equal(await page.isHidden("#category-set"), true);
        assert.equal(await page.$$eval("#chart .label.in-set", (ls) => ls.length), 0, "no row marked as in a set");
        assert.equal(await page.isDisabled("#coverage"), true, "the set choice is switched off");
        assert.ok(await page.$$eval("#chart .bar", (bs) => bs.length) >= 3);
        // Saved before training papers were stored: the note instead of supporting papers.
        assert.match(await page.textContent("#nearest-note"), /trained before training papers were stored/);
        assert.equal(await page.$$eval("#chart .why.support", (ws) => ws.length), 0);
      });
      await check("uncalibrated model: a second paper is classified without asking for a set again", async () => {
        await classifyOnce();
        assert.equal(await page.isHidden("#category-set"), true);
      });
      await check("uncalibrated model: no page errors; one 503 for the set, then none", async () => {
        assert.deepEqual(problems, []);
        assert.deepEqual(failedAnswers, ["503 /v1/classify", "503 /v1/search", "503 /v1/search"]);
      });
    }
  } else if (query.searchOnly) {
    // A server without a classifier: the same form finds similar papers, with a note instead of a chart.
    await page.waitForFunction(() => document.querySelector("#model-info").textContent.includes("search only"),
      null, { timeout: 15000 });
    await check("search only: paste title + abstract → a note, no chart, and neighbours", async () => {
      await page.fill("#title", query.title);
      await page.fill("#abstract", query.abstract);
      await page.click("#classify-btn");
      await page.waitForSelector("#neighbours li a", { timeout: 15000 });
      assert.equal(await page.$$eval("#chart .bar", (bs) => bs.length), 0);
      assert.match(await page.textContent("#chart-note"), /No classifier loaded/);
      const links = await page.$$eval("#neighbours li a", (as) => as.map((a) => a.href));
      assert.equal(links[0], `https://arxiv.org/abs/${query.id}`, "the paper itself is its nearest neighbour");
    });
    await check("search only: search box → results", async () => {
      await page.fill("#search-text", query.search);
      await page.click("#search-btn");
      await page.waitForSelector("#search-results li a", { timeout: 15000 });
    });
    await check("search only: no page errors, no remote requests, no classify call", async () => {
      assert.deepEqual(problems, []);
      assert.deepEqual(failedAnswers, []);
    });
  } else {
    await check("paste title + abstract → chart and neighbours", async () => {
      await page.fill("#title", query.title);
      await page.fill("#abstract", query.abstract);
      await page.click("#classify-btn");
      await page.waitForSelector("#chart .bar", { timeout: 15000 });
      const labels = await page.$$eval("#chart .label", (ls) => ls.map((l) => l.textContent));
      assert.ok(labels.length >= 3, `only ${labels.length} bars`);
      const widths = await page.$$eval("#chart .bar", (bs) => bs.map((b) => b.getBoundingClientRect().width));
      assert.ok(widths[0] >= widths[widths.length - 1] && widths[0] > 50, `bars ${widths}`);
      const pred = await page.textContent("#prediction");
      assert.ok(labels[0].includes(pred.split(" ")[1]), `${pred} vs ${labels[0]}`);
      // Under the first category that has them: the paper's terms that support it (TF-IDF model), each one
      // from the paper.
      const terms = await page.$$eval("#chart .why", (ws) =>
        ws.length ? [...ws[0].querySelectorAll(".term")].map((t) => t.textContent) : []);
      assert.ok(terms.length >= 1, "no supporting terms under the top category");
      const text = `${query.title} ${query.abstract}`.toLowerCase();
      assert.ok(terms.every((t) => t.split(" ").every((w) => text.includes(w))), terms.join(", "));
      await page.waitForSelector("#neighbours li a", { timeout: 15000 });
      const links = await page.$$eval("#neighbours li a", (as) => as.map((a) => a.href));
      assert.ok(links.length >= 5, `${links.length} neighbours`);
      assert.ok(links.every((h) => h.startsWith("https://arxiv.org/abs/")), links.join(" "));
      assert.equal(links[0], `https://arxiv.org/abs/${query.id}`, "the paper itself is its nearest neighbour");
    });
    await check("the 90% conformal category set is listed under the chart and marked in it", async () => {
      assert.equal(await page.isHidden("#category-set"), false, "no category set shown");
      const line = await page.textContent("#category-set");
      const m = line.match(/^90% category set \((\d+)\):/);
      assert.ok(m, line);
      const codes = await page.$$eval("#category-set code", (cs) => cs.map((c) => c.textContent));
      assert.equal(codes.length, Number(m[1]), line);
      const pred = (await page.textContent("#prediction")).split(" ")[1];
      assert.equal(codes[0], pred, "the set starts with the most probable category");
      const marked = await page.$$eval("#chart .label.in-set code", (cs) => cs.map((c) => c.textContent));
      const listed = await page.$$eval("#chart .label code", (cs) => cs.map((c) => c.textContent));
      assert.deepEqual(marked, listed.filter((c) => codes.includes(c)), "exactly the set's rows are marked");
      assert.equal(await page.isHidden("#set-note"), true);
    });
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

    await check("an arXiv id → its neighbours, itself excluded", async () => {
      await page.fill("#title", "");
      await page.fill("#abstract", "");
      await page.fill("#arxiv-id", query.id);
      await page.click("#classify-btn");
      await page.waitForFunction(
        (id) => { const a = document.querySelector("#neighbours li a"); return a && !a.href.endsWith(id); },
        query.id, { timeout: 15000 });
      const links = await page.$$eval("#neighbours li a", (as) => as.map((a) => a.href));
      assert.ok(!links.includes(`https://arxiv.org/abs/${query.id}`));
    });

    await check("search box → results", async () => {
      await page.fill("#search-text", query.search);
      await page.click("#search-btn");
      await page.waitForSelector("#search-results li a", { timeout: 15000 });
      const n = await page.$$eval("#search-results li", (ls) => ls.length);
      assert.ok(n >= 5, `${n} results`);
    });

    await check("reading list: add two papers from search results → recommendations, none of the list", async () => {
      assert.equal(await page.isHidden("#reading-empty"), false, "an empty list says how to start");
      const ids = await page.$$eval("#search-results li", (ls) => ls.slice(0, 2).map((l) => l.dataset.id));
      await page.click("#search-results li:nth-child(1) button");
      await page.click("#search-results li:nth-child(2) button");
      await page.waitForFunction(() => document.querySelectorAll("#reading-list li").length === 2, null, { timeout: 5000 });
      assert.deepEqual(await page.$$eval("#reading-list li", (ls) => ls.map((l) => l.dataset.id)), ids);
      await page.waitForSelector("#recommendations li a", { timeout: 15000 });
      const recs = await page.$$eval("#recommendations li", (ls) => ls.map((l) => l.dataset.id));
      assert.ok(recs.length >= 5, `${recs.length} recommendations`);
      assert.ok(recs.every((id) => !ids.includes(id)), `a list paper came back: ${recs}`);
      query.readingIds = ids;
    });

    await check("reading list: kept over a reload, and an item can be removed", async () => {
      await page.reload();
      await page.waitForSelector("#recommendations li a", { timeout: 15000 });
      assert.deepEqual(await page.$$eval("#reading-list li", (ls) => ls.map((l) => l.dataset.id)), query.readingIds);
      await page.click("#reading-list li:nth-child(1) button");
      await page.waitForFunction(() => document.querySelectorAll("#reading-list li").length === 1, null, { timeout: 5000 });
      const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("arxiv-atlas.reading-list")).map((p) => p.id));
      assert.deepEqual(stored, query.readingIds.slice(1));
    });

    await check("an empty form shows the API's error", async () => {
      await page.fill("#title", "");
      await page.fill("#abstract", "");
      await page.fill("#arxiv-id", "");
      await page.click("#classify-btn");
      await page.waitForSelector("#error:not([hidden])", { timeout: 5000 });
      const msg = await page.textContent("#error");
      assert.match(msg, /title/);
    });

    await check("no page errors, no remote requests, no failed answer but the deliberate 422", async () => {
      assert.deepEqual(problems, []);
      assert.deepEqual(failedAnswers, ["422 /v1/classify"]);
    });
  }
} finally {
  await browser.close();
}
finish();
