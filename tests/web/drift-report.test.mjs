// Opens an arxiv-atlas drift report (the self-contained HTML of `arxiv-atlas drift --report`) in headless
// Chromium and checks that it renders: the verdict badge, the per-test score plot and table, one distribution
// plot per numeric feature, the categories and the words that moved — every plot drawn with a visible size and
// bars, no script errors, nothing fetched from anywhere (the file must stand alone).
//   node tests/web/drift-report.test.mjs file:///path/report.html '{"tests": 9, "histograms": 3, ...}' [shot.png]
// Run by crates/atlas-serve/tests/drift.rs on the report of its live server.
import assert from "node:assert/strict";
import { check, finish, launch } from "./harness.mjs";

const [url, expectJson, screenshot] = process.argv.slice(2);
const want = JSON.parse(expectJson);
const browser = await launch();

try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("request", (r) => { if (r.url() !== url) problems.push(`request: ${r.url()}`); });
  await page.goto(url);

  await check("the verdict badge", async () => {
    assert.equal((await page.textContent("h1 .badge")).trim(), want.drift ? "DRIFT" : "no drift");
  });
  await check("one table row per test, with its verdict", async () => {
    const rows = await page.$$eval("table:first-of-type tr", (trs) => trs.slice(1).map((tr) => tr.lastElementChild.textContent));
    assert.equal(rows.length, want.tests);
    assert.equal(rows.filter((v) => v === "drift").length, want.drifted);
  });
  await check("every plot is drawn: visible size, bars inside", async () => {
    const svgs = await page.$$eval("svg", (ss) => ss.map((s) => {
      const b = s.getBoundingClientRect();
      const bars = [...s.querySelectorAll("rect")].filter((r) => r.getBoundingClientRect().width > 0).length;
      return { w: b.width, h: b.height, bars };
    }));
    // Scores, one distribution per numeric feature, categories per categorical feature, words.
    assert.equal(svgs.length, 1 + want.histograms + want.categoryPlots + (want.words > 0 ? 1 : 0));
    for (const [i, s] of svgs.entries()) {
      assert.ok(s.w > 100 && s.h > 50, `plot ${i} is ${s.w}×${s.h}`);
      assert.ok(s.bars > 0, `plot ${i} has no visible bar`);
    }
  });
  await check("the score plot has one bar per test", async () => {
    const bars = await page.$eval("svg", (s) => [...s.querySelectorAll("rect")].filter((r) => r.getBoundingClientRect().height > 0).length);
    assert.ok(bars >= want.tests, `${bars} bars for ${want.tests} tests`);
  });
  await check("the words that moved are listed", async () => {
    const headings = await page.$$eval("h2", (hs) => hs.map((h) => h.textContent));
    assert.equal(headings.includes("Words that moved most"), want.words > 0);
    if (want.words > 0) {
      const rows = await page.$$eval("table", (ts) => ts[ts.length - 1].querySelectorAll("tr").length - 1);
      assert.equal(rows, want.words);
    }
  });
  await check("no script error and nothing fetched", async () => {
    assert.deepEqual(problems, []);
  });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
finish();
