//! Links in the documentation resolve: every relative link or image in the README, `conf/README.md` and
//! `docs/*.md` names a file that exists (and, with `#anchor`, a heading of that page), pages of the docs site
//! link only inside `docs/` (the site serves nothing else), and every page is reachable from `docs/SUMMARY.md`.
//! mdBook itself does not check links, and a page outside SUMMARY.md is silently left out of the site, so this
//! test is what makes "a broken link fails CI" true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::repo_root;

/// What one Markdown page offers and asks for.
#[derive(Default)]
struct Page {
    /// Link and image destinations, with the line they are on.
    links: Vec<(usize, String)>,
    /// Anchors a link may name: heading ids (mdBook's and GitHub's rule) and explicit HTML `id`s.
    anchors: BTreeSet<String>,
}

/// A heading's id as mdBook and GitHub derive it: lower case, whitespace to `-`, other punctuation dropped;
/// a repeated heading gets `-1`, `-2`, ….
fn heading_id(text: &str, seen: &mut BTreeMap<String, usize>) -> String {
    let base: String = text
        .trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_lowercase().next().unwrap_or(c)),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect();
    let n = seen.entry(base.clone()).or_insert(0);
    let id = if *n == 0 { base.clone() } else { format!("{base}-{n}") };
    *n += 1;
    id
}

/// `id="…"` and `name="…"` attributes in a piece of raw HTML.
fn html_ids(html: &str, out: &mut BTreeSet<String>) {
    for attr in ["id=\"", "name=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_string());
            }
        }
    }
}

fn parse(markdown: &str) -> Page {
    let line_of = |offset: usize| markdown[..offset].matches('\n').count() + 1;
    let mut page = Page::default();
    let mut seen = BTreeMap::new();
    let mut heading: Option<String> = None;
    for (event, range) in
        Parser::new_ext(markdown, Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_TABLES)
            .into_offset_iter()
    {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                page.links.push((line_of(range.start), dest_url.to_string()));
            }
            Event::Start(Tag::Heading { id, .. }) => {
                // `# Title {#explicit-id}` (an extension mdBook and this parser share) adds an id.
                if let Some(id) = id {
                    page.anchors.insert(id.to_string());
                }
                heading = Some(String::new());
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = heading.take() {
                    page.anchors.insert(heading_id(&h, &mut seen));
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => html_ids(&html, &mut page.anchors),
            _ => {}
        }
    }
    page
}

/// `a/./b/../c` → `a/c`, without touching the file system (the target may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Every broken link of the documents, as `file:line: message`.
fn broken_links(root: &Path) -> Vec<String> {
    // Resolved once, so link targets (normalised lexically) and listed files compare equal.
    let root = &root.canonicalize().expect("the repository root exists");
    let docs_dir = root.join("docs");
    let mut files = vec![root.join("README.md"), root.join("conf/README.md")];
    let mut site: Vec<PathBuf> = std::fs::read_dir(&docs_dir)
        .expect("docs/ is readable")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    site.sort();
    files.extend(site.iter().cloned());

    let pages: BTreeMap<PathBuf, Page> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
            (f.clone(), parse(&text))
        })
        .collect();

    let mut problems = Vec::new();
    for (file, page) in &pages {
        let shown = file.strip_prefix(root).unwrap_or(file).display().to_string();
        let in_site = file.starts_with(&docs_dir);
        for (line, dest) in &page.links {
            if dest.contains("://") || dest.starts_with("mailto:") {
                continue; // no network in tests: external links are not fetched
            }
            let (path, anchor) = dest.split_once('#').map_or((dest.as_str(), None), |(p, a)| (p, Some(a)));
            let target = if path.is_empty() {
                file.clone()
            } else {
                normalise(&file.parent().unwrap_or(root).join(path))
            };
            if !target.exists() {
                problems.push(format!("{shown}:{line}: `{dest}`: no such file {}", target.display()));
                continue;
            }
            if in_site && !target.starts_with(&docs_dir) {
                problems.push(format!(
                    "{shown}:{line}: `{dest}` leaves docs/: the docs site cannot serve it (name the file in \
                     backticks instead)"
                ));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let known = match pages.get(&target) {
                Some(p) => p.anchors.contains(anchor),
                None if target.extension().is_some_and(|e| e == "md") => {
                    let text = std::fs::read_to_string(&target).unwrap_or_default();
                    parse(&text).anchors.contains(anchor)
                }
                None => continue, // an anchor into a non-Markdown file is not ours to check
            };
            if !known {
                problems.push(format!("{shown}:{line}: `{dest}`: no heading with the id `{anchor}` there"));
            }
        }
    }

    // Every page of docs/ is in the site's table of contents.
    let summary = docs_dir.join("SUMMARY.md");
    let listed: BTreeSet<PathBuf> = pages
        .get(&summary)
        .map(|p| p.links.iter().map(|(_, d)| normalise(&docs_dir.join(d))).collect())
        .unwrap_or_default();
    for page in &site {
        if *page != summary && !listed.contains(page) {
            problems.push(format!(
                "docs/SUMMARY.md: {} is not listed, so the docs site leaves it out",
                page.strip_prefix(root).unwrap_or(page).display()
            ));
        }
    }
    problems
}

#[test]
fn every_link_in_the_docs_resolves_and_every_page_is_in_the_summary() {
    let problems = broken_links(&repo_root());
    assert!(problems.is_empty(), "broken documentation links:\n  {}", problems.join("\n  "));
}

#[test]
fn the_checker_finds_broken_files_anchors_and_orphans() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("docs")).expect("mkdir");
    std::fs::create_dir_all(root.join("conf")).expect("mkdir");
    std::fs::write(root.join("conf/README.md"), "# Conf\n").expect("write");
    std::fs::write(root.join("README.md"), "[ok](docs/a.md#the-a-page) [gone](docs/missing.md)\n")
        .expect("write");
    std::fs::write(root.join("docs/SUMMARY.md"), "# Summary\n\n- [A](a.md)\n").expect("write");
    std::fs::write(
        root.join("docs/a.md"),
        "# The `A` page\n\n## Twice\n\n## Twice\n\n[self](#twice-1) [bad](#nope) [out](../conf/README.md)\n\
         [web](https://arxiv.org/abs/1706.03762) [b](b.md#top)\n",
    )
    .expect("write");
    std::fs::write(root.join("docs/b.md"), "<a id=\"top\"></a>\n# B\n").expect("write");
    let problems = broken_links(root);
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(has("README.md:1: `docs/missing.md`: no such file"), "{problems:?}");
    assert!(has("docs/a.md:7: `#nope`: no heading"), "{problems:?}");
    assert!(has("`../conf/README.md` leaves docs/"), "{problems:?}");
    assert!(has("docs/b.md is not listed"), "{problems:?}");
    // The good ones are not reported: a heading with code, a repeated heading, an HTML id, a web link.
    assert_eq!(problems.len(), 4, "{problems:?}");
}
