//! `docs/cli.md`: the long `--help` of every subcommand, and the old spellings that still parse.

use clap::{Command, CommandFactory};

use crate::cli::Cli;

/// Every command of the tree, depth first, with its path (`arxiv-atlas bench search`). The generated `help`
/// subcommands are left out.
fn walk(cmd: &Command, path: String, out: &mut Vec<(String, Command)>) {
    out.push((path.clone(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        walk(sub, format!("{path} {}", sub.get_name()), out);
    }
}

/// Environment values would make the file depend on the shell that generated it (and could show a URL with a
/// password): only the variable names are printed.
fn hide_env_values(cmd: Command) -> Command {
    cmd.mut_args(|a| a.hide_env_values(true)).mut_subcommands(hide_env_values)
}

/// The GitHub anchor of a `## <path>` heading.
fn anchor(path: &str) -> String {
    path.replace(' ', "-")
}

/// The Markdown of `docs/cli.md`.
pub(super) fn render() -> String {
    let mut root = hide_env_values(Cli::command());
    root.build();
    let mut commands = Vec::new();
    walk(&root, "arxiv-atlas".to_string(), &mut commands);

    let mut out = String::from("# Command-line reference\n\n");
    out.push_str(&format!(
        "Generated from the flag definitions (`crates/arxiv-atlas/src/cli/`) by a test that fails when this \
         file is \
         stale; do not edit it by hand. Refresh: `{}`.\n\n",
        super::REFRESH
    ));
    out.push_str(
        "Every subcommand's `--help` follows. The same concept has one spelling everywhere: `--model-dir` \
         (encoder \
         folder), `--engine` (encoder engine) against `--backend` (index type), `--index DIR|URL` with \
         `--index-name`, `--ef-search`, `-k/--top-k`, `--limit` (how many papers or queries), `--split` \
         (a comma \
         list), `--runs-root`. By convention embedding sets live in `data/embeddings/<name>` and indexes in \
         `data/indexes/<name>`.\n\n",
    );
    for (path, _) in &commands {
        let depth = path.matches(' ').count();
        out.push_str(&format!("{}- [`{path}`](#{})\n", "  ".repeat(depth), anchor(path)));
    }
    out.push('\n');

    let mut aliases = Vec::new();
    for (path, cmd) in &mut commands {
        out.push_str(&format!("## {path}\n\n```text\n"));
        let help = cmd.render_long_help().to_string();
        for line in help.trim_end().lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push_str("```\n\n");
        for arg in cmd.get_arguments() {
            let (Some(long), Some(all)) = (arg.get_long(), arg.get_all_aliases()) else { continue };
            let visible = arg.get_visible_aliases().unwrap_or_default();
            for old in all.into_iter().filter(|a| !visible.contains(a)) {
                aliases.push(format!("| `{path}` | `--{old}` | `--{long}` |\n"));
            }
        }
    }
    out.push_str(
        "## Old spellings\n\nThese still parse, as hidden aliases kept for one release; use the new \
         spelling.\n\n\
         | command | old | new |\n|---|---|---|\n",
    );
    for row in aliases {
        out.push_str(&row);
    }
    out
}

#[test]
fn docs_cli_md_is_up_to_date() {
    super::check_generated("docs/cli.md", &render());
}

#[test]
fn the_reference_has_every_subcommand_and_old_spelling() {
    let md = render();
    for path in ["## arxiv-atlas bench search", "## arxiv-atlas index build", "## arxiv-atlas runs compare"] {
        assert!(md.contains(&format!("{path}\n")), "{path} missing");
    }
    assert!(
        !md.contains("## arxiv-atlas help"),
        "the generated help subcommand is not a command to document"
    );
    assert!(md.contains("| `arxiv-atlas ingest` | `--max-samples` | `--limit` |"), "{md}");
    assert!(md.contains("Usage: arxiv-atlas bench search [OPTIONS]"), "paths in usage lines");
}
