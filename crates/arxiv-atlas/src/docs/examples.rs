//! Every `arxiv-atlas` command line of the README, `conf/README.md` and `docs/*.md`, parsed by the real
//! parser (`Cli::try_parse_from`, nothing runs), so a renamed or misspelt flag in a doc fails here.
//!
//! What counts as a command line: in fenced code blocks of a shell (info string `bash`, `sh`, `shell`,
//! `console`, or none; `text` and the like hold output and diagrams), every line (joined across trailing
//! backslashes) that runs `arxiv-atlas` (also as `target/release/arxiv-atlas`, after `VAR=value` assignments)
//! or `cargo run --release -- …` (the binary of this repository; `cargo run -p other-crate --example …` runs
//! an example harness with flags of its own and is not checked); in prose, every code span that starts with
//! the word `arxiv-atlas`. Words are split the way a shell splits them (quotes, backslashes, `#` comments,
//! and the command ends at `|`, `;`, `&` or a redirection); variables are not expanded, so `$URL` and
//! placeholders like `…` or `<run-a>` reach the parser as the values they stand for. A `--help` line is
//! valid. A span without any flag that does not parse (`arxiv-atlas index add`, naming a command in a
//! sentence) must name subcommands. A hidden alias (an old spelling) is refused too: docs show the current
//! spelling.

use std::path::Path;

use clap::{Command, CommandFactory, Parser};

use crate::cli::Cli;

/// A command line found in a document.
#[derive(Debug, Clone, PartialEq)]
struct Example {
    /// 1-based line where it starts.
    line: usize,
    /// The arguments after the program name.
    args: Vec<String>,
    /// From a code span in prose rather than a code block.
    inline: bool,
}

/// Splits one command line into words like a POSIX shell, without expanding anything. Stops at a comment or
/// at the first control operator or redirection; `<name>` without spaces is a placeholder, not a redirection.
/// `Err` for an unterminated quote.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '#' if word.is_none() => break,
            '<' if placeholder_end(chars.clone()).is_some() => {
                let w = word.get_or_insert_with(String::new);
                w.push('<');
                for c in chars.by_ref() {
                    w.push(c);
                    if c == '>' {
                        break;
                    }
                }
            }
            '|' | ';' | '&' | '>' | '<' => {
                // `2>file`: the descriptor number belongs to the redirection, not to the command.
                if let Some(w) = word.take().filter(|w| !w.chars().all(|c| c.is_ascii_digit())) {
                    words.push(w);
                }
                return Ok(words);
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated ' in {line}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.extend(chars.next());
                        }
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated \" in {line}")),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Whether the text after a `<` closes a placeholder such as `<run-a>` (a `>` before any space or `<`).
fn placeholder_end(rest: impl Iterator<Item = char>) -> Option<()> {
    for c in rest {
        match c {
            '>' => return Some(()),
            c if c.is_whitespace() || c == '<' => return None,
            _ => {}
        }
    }
    None
}

/// The arguments of an `arxiv-atlas` invocation in `words`, or `None` when the words run something else.
fn invocation(words: &[String]) -> Option<Vec<String>> {
    let start = words.iter().position(|w| !is_assignment(w) && w != "$")?;
    let (program, rest) = (&words[start], &words[start + 1..]);
    if program == "arxiv-atlas" || program.ends_with("/arxiv-atlas") {
        return Some(rest.to_vec());
    }
    if program == "cargo" && rest.first().is_some_and(|w| w == "run") {
        let sep = rest.iter().position(|w| w == "--")?;
        let cargo_args = &rest[1..sep];
        // Another package, or an example/other binary: a harness with flags of its own.
        let mut other = false;
        for (i, w) in cargo_args.iter().enumerate() {
            let next = cargo_args.get(i + 1).map(String::as_str);
            other |= w == "--example" || w.starts_with("--example=");
            other |= (w == "-p" || w == "--package" || w == "--bin") && next != Some("arxiv-atlas");
            other |= w.starts_with("--package=") && w != "--package=arxiv-atlas";
            other |= w.starts_with("--bin=") && w != "--bin=arxiv-atlas";
        }
        return (!other).then(|| rest[sep + 1..].to_vec());
    }
    None
}

/// `NAME=value` before a command.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The command lines of one Markdown document.
fn examples(markdown: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    let mut fence: Option<(&str, bool)> = None; // (marker, whether its lines are shell)
    let mut pending: Option<(usize, String)> = None; // a code line continued with a trailing backslash
    let mut prose: Vec<(usize, &str)> = Vec::new();
    for (i, raw) in markdown.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => {
                inline_spans(&prose, &mut out)?;
                prose.clear();
                let info = trimmed[m.len()..].trim();
                fence = Some((m, matches!(info, "" | "bash" | "sh" | "shell" | "console" | "zsh")));
                continue;
            }
            (Some((open, _)), Some(m)) if open == m => {
                fence = None;
                pending = None;
                continue;
            }
            _ => {}
        }
        match fence {
            None => {
                prose.push((n, raw));
                continue;
            }
            Some((_, false)) => continue,
            Some((_, true)) => {}
        }
        let (start, mut text) = pending.take().unwrap_or((n, String::new()));
        if let Some(body) = raw.trim_end().strip_suffix('\\') {
            text.push_str(body);
            text.push(' ');
            pending = Some((start, text));
            continue;
        }
        text.push_str(raw);
        if let Some(args) = invocation(&shell_words(&text).map_err(|e| format!("line {start}: {e}"))?) {
            out.push(Example { line: start, args, inline: false });
        }
    }
    inline_spans(&prose, &mut out)?;
    Ok(out)
}

/// Code spans of prose lines that start with the word `arxiv-atlas`; a span may run over a line break.
fn inline_spans(lines: &[(usize, &str)], out: &mut Vec<Example>) -> Result<(), String> {
    // Spans do not cross a blank line, so each paragraph is scanned on its own.
    for paragraph in lines.split(|(_, l)| l.trim().is_empty()) {
        let mut open: Option<(usize, usize, String)> = None; // (line, backtick run length, text so far)
        for (n, line) in paragraph {
            let mut rest = *line;
            if let Some((_, _, text)) = open.as_mut() {
                text.push(' ');
            }
            while let Some(pos) = rest.find('`') {
                let run = rest[pos..].chars().take_while(|&c| c == '`').count();
                match open.take() {
                    None => open = Some((*n, run, String::new())),
                    Some((start, len, mut text)) if len == run => {
                        text.push_str(&rest[..pos]);
                        let text = text.trim();
                        if text == "arxiv-atlas" || text.starts_with("arxiv-atlas ") {
                            let words = shell_words(text).map_err(|e| format!("line {start}: {e}"))?;
                            out.push(Example { line: start, args: words[1..].to_vec(), inline: true });
                        }
                    }
                    Some((start, len, mut text)) => {
                        // A run of another length inside a span is part of its text.
                        text.push_str(&rest[..pos + run]);
                        open = Some((start, len, text));
                    }
                }
                rest = &rest[pos + run..];
            }
            if let Some((_, _, text)) = open.as_mut() {
                text.push_str(rest);
            }
        }
    }
    Ok(())
}

/// The command an argument list reaches (global flags before a subcommand are skipped), and whether every
/// word was a subcommand name.
fn reached(root: &Command, args: &[String]) -> (Command, bool) {
    let mut cmd = root.clone();
    let mut only_names = true;
    for word in args {
        if let Some(sub) = cmd.find_subcommand(word) {
            cmd = sub.clone();
        } else if word.starts_with('-') {
            only_names = false;
        } else {
            return (cmd, false);
        }
    }
    (cmd, only_names)
}

/// Why an example is wrong, or `None` when it parses with current spellings.
fn check(root: &Command, ex: &Example) -> Option<String> {
    let argv = std::iter::once("arxiv-atlas".to_string()).chain(ex.args.iter().cloned());
    let (cmd, only_names) = reached(root, &ex.args);
    match Cli::try_parse_from(argv) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) => {}
        Err(_) if ex.inline && only_names && !ex.args.iter().any(|a| a.starts_with('-')) => {}
        Err(e) => return Some(e.to_string().lines().next().unwrap_or_default().to_string()),
    }
    for word in ex.args.iter().filter_map(|a| a.strip_prefix("--")) {
        let name = word.split('=').next().unwrap_or(word);
        for arg in cmd.get_arguments() {
            let hidden = arg.get_all_aliases().unwrap_or_default();
            let visible = arg.get_visible_aliases().unwrap_or_default();
            if hidden.contains(&name) && !visible.contains(&name) {
                return Some(format!("--{name} is an old spelling: use --{}", arg.get_long().unwrap_or("?")));
            }
        }
    }
    None
}

/// The documents whose examples must parse: the README, `conf/README.md` and every `docs/*.md`.
fn documents(root: &Path) -> Vec<std::path::PathBuf> {
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    let mut all = vec![root.join("README.md"), root.join("conf/README.md")];
    all.extend(docs);
    all
}

fn built_cli() -> Command {
    let mut root = Cli::command();
    root.build();
    root
}

#[test]
fn every_command_line_in_the_docs_parses() {
    let repo = super::repo_root();
    let root = built_cli();
    let (mut failures, mut checked, mut in_blocks) = (Vec::new(), 0, 0);
    for path in documents(&repo) {
        let rel = path.strip_prefix(&repo).unwrap_or(&path).display().to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let found = examples(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for ex in found {
            checked += 1;
            in_blocks += usize::from(!ex.inline);
            if let Some(why) = check(&root, &ex) {
                failures.push(format!("{rel}:{}: arxiv-atlas {}\n    {why}", ex.line, ex.args.join(" ")));
            }
        }
    }
    println!("{checked} command lines checked, {in_blocks} of them in code blocks");
    assert!(failures.is_empty(), "{} doc examples do not parse:\n{}", failures.len(), failures.join("\n"));
    // The docs hold dozens of command lines; far fewer means the scanner stopped finding them.
    assert!(checked >= 60 && in_blocks >= 40, "only {checked} examples found ({in_blocks} in code blocks)");
}

#[test]
fn shell_words_split_like_a_shell() {
    let w = |s: &str| shell_words(s).unwrap();
    assert_eq!(
        w(r#"arxiv-atlas classify --title "A \"B\"" --abstract 'x  y' # a comment"#),
        ["arxiv-atlas", "classify", "--title", "A \"B\"", "--abstract", "x  y"]
    );
    assert_eq!(w("arxiv-atlas runs list | head -3"), ["arxiv-atlas", "runs", "list"]);
    assert_eq!(
        w("arxiv-atlas -q ingest a --out d 2>/dev/null"),
        ["arxiv-atlas", "-q", "ingest", "a", "--out", "d"]
    );
    assert_eq!(w("a#b c"), ["a#b", "c"], "# inside a word is no comment");
    assert_eq!(
        w("arxiv-atlas runs compare <run-a> <run-b>"),
        ["arxiv-atlas", "runs", "compare", "<run-a>", "<run-b>"]
    );
    assert_eq!(w("arxiv-atlas runs list < in > out"), ["arxiv-atlas", "runs", "list"]);
    assert!(shell_words("arxiv-atlas search 'open").is_err());
}

#[test]
fn invocations_are_found_in_blocks_and_spans_and_harnesses_are_not() {
    let md = "Run `arxiv-atlas search q --index i -k 3` or\n`arxiv-atlas\nindex add` (a name).\n\n\
              ```bash\n\
              ARXIV_ATLAS_DATA__MAX_SAMPLES=100 arxiv-atlas train   # env first\n\
              cargo run --release -- quickstart\n\
              cargo run --release -p atlas-encoder --example bench -- --n 2000\n\
              target/release/arxiv-atlas index build --embeddings e \\\n    --index d --split train\n\
              curl -s localhost:8080/v1/search\n\
              ```\n\
              ```text\n\
              arxiv-atlas (bin): a diagram, not a command\n\
              ```\n";
    let found = examples(md).unwrap();
    let lines: Vec<(usize, String, bool)> =
        found.iter().map(|e| (e.line, e.args.join(" "), e.inline)).collect();
    assert_eq!(
        lines,
        [
            (1, "search q --index i -k 3".to_string(), true),
            (2, "index add".to_string(), true),
            (6, "train".to_string(), false),
            (7, "quickstart".to_string(), false),
            (9, "index build --embeddings e --index d --split train".to_string(), false),
        ]
    );
    let root = built_cli();
    assert!(
        found.iter().all(|e| check(&root, e).is_none()),
        "{:?}",
        found.iter().map(|e| check(&root, e)).collect::<Vec<_>>()
    );
}

#[test]
fn a_renamed_or_old_flag_fails() {
    let root = built_cli();
    let ex = |line: &str, inline| Example { line: 1, args: shell_words(line).unwrap(), inline };
    let why = check(&root, &ex("search q --index i --nearest 3", false)).unwrap();
    assert!(why.contains("--nearest"), "{why}");
    let why = check(&root, &ex("index build --embeddings e --out d --splits train", false)).unwrap();
    assert!(why.contains("--out is an old spelling: use --index"), "{why}");
    // A flagless span must name commands; one that names no command is refused.
    assert!(check(&root, &ex("index add", true)).is_none());
    assert!(check(&root, &ex("index remove", true)).is_some());
    assert!(
        check(&root, &ex("index add", false)).is_some(),
        "in a code block it is a command line: it must parse"
    );
    assert!(check(&root, &ex("bench search --help", false)).is_none());
}
