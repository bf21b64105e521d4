//! Parsing rules that once went wrong.

use clap::Parser;

use super::{Cli, Command, IndexCommand};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("arxiv-atlas").chain(args.iter().copied()))
}

/// With `ARXIV_ATLAS_DATABASE_URL` exported (as the docs suggest for pgvector work), clap once counted the
/// variable as a given flag, so `search --index DIR`, `index add --index DIR` and `serve --no-request-log`
/// were refused as conflicts. The variable only feeds `--database-url` of the measuring commands now, and no
/// flag conflicts with it. (One test touches the variable, so no other test of this binary can race with it.)
#[test]
fn an_exported_database_url_conflicts_with_no_flag() {
    std::env::set_var("ARXIV_ATLAS_DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres");
    let lines: &[&[&str]] = &[
        &["search", "graph networks", "--index", "indexes/a"],
        &["index", "add", "--index", "indexes/a", "--embeddings", "emb"],
        &["index", "build", "--index", "indexes/a", "--embeddings", "emb"],
        &["serve", "--model", "runs/m", "--index", "indexes/a", "--no-request-log"],
        &["serve", "--model", "runs/m", "--no-request-log"],
        // pgvector index and no request log: impossible before (`--pg-index` required the URL flag that
        // `--no-request-log` conflicted with).
        &[
            "serve",
            "--model",
            "runs/m",
            "--index",
            "postgres://u@h/db",
            "--index-name",
            "p",
            "--no-request-log",
        ],
        &["evaluate-retrieval", "--embeddings", "emb"],
    ];
    let results: Vec<_> = lines.iter().map(|l| (l, parse(l))).collect();
    std::env::remove_var("ARXIV_ATLAS_DATABASE_URL");
    for (line, r) in results {
        if let Err(e) = r {
            panic!("{line:?} refused: {e}");
        }
    }
}

#[test]
fn options_are_typed_at_parse_time() {
    let err = parse(&["embed", "--input", "x", "--out", "y", "--engine", "onxx"]).unwrap_err().to_string();
    assert!(err.contains("onxx") && err.contains("onnx"), "{err}");
    let err = parse(&["embed", "--input", "x", "--out", "y", "--precision", "fp16"]).unwrap_err().to_string();
    assert!(err.contains("fp16"), "{err}");
    let err = parse(&["embed", "--input", "x", "--out", "y", "--device", "tpu"]).unwrap_err().to_string();
    assert!(err.contains("unknown device `tpu`"), "{err}");
    let err =
        parse(&["evaluate", "--model", "m", "--input", "i", "--split", "tset"]).unwrap_err().to_string();
    assert!(err.contains("tset"), "{err}");
    let err = parse(&["index", "build", "--index", "d", "--embeddings", "e", "--scalar", "i4"]).unwrap_err();
    assert!(err.to_string().contains("i4"), "{err}");
    // The old spellings still parse.
    assert!(parse(&["embed", "--input", "x", "--out", "y", "--backend", "ort"]).is_ok());
    match parse(&["index", "build", "--out", "d", "--embeddings", "e", "--prefix", "p"]).unwrap().command {
        Command::Index(IndexCommand::Build(b)) => {
            assert_eq!((b.index.as_str(), b.index_name.as_str()), ("d", "p"))
        }
        other => panic!("{other:?}"),
    }
}

/// One spelling per concept, old spellings kept as hidden aliases for one release: each old command line
/// parses to exactly the value of its new spelling (the whole parsed `Cli` is compared), and the old spelling
/// is absent from `--help`.
#[test]
fn old_spellings_parse_like_the_new_ones_and_stay_out_of_help() {
    // (new command line, old command line, the old flag that must not show in that command's help). `bench
    // search` lines name --database-url, so the variable the first test sets cannot make them differ.
    let pairs: &[(&[&str], &[&str], &str)] = &[
        (
            &["ingest", "a.jsonl", "--out", "d", "--limit", "7"],
            &["ingest", "a.jsonl", "--out", "d", "--max-samples", "7"],
            "--max-samples",
        ),
        (&["runs", "--runs-root", "r", "list"], &["runs", "--root", "r", "list"], "--root"),
        (
            &["runs", "compare", "a", "b", "--runs-root", "r"],
            &["runs", "compare", "a", "b", "--root", "r"],
            "--root",
        ),
        (
            &["search", "q", "--index", "i", "--top-k", "3"],
            &["search", "q", "--index", "i", "--k", "3"],
            "--k",
        ),
        (&["search", "q", "--index", "i", "-k", "3"], &["search", "q", "--index", "i", "--k", "3"], "--k"),
        (
            &["search", "q", "--index", "i", "--ef-search", "40"],
            &["search", "q", "--index", "i", "--ef", "40"],
            "--ef",
        ),
        (
            &["search", "q", "--index", "i", "--index-name", "p"],
            &["search", "q", "--index", "i", "--pg-index", "p"],
            "--pg-index",
        ),
        (
            &["index", "build", "--embeddings", "e", "--index", "d", "--split", "train,validation"],
            &["index", "build", "--embeddings", "e", "--out", "d", "--splits", "train,validation"],
            "--splits",
        ),
        (
            &["index", "build", "--embeddings", "e", "--index", "d"],
            &["index", "build", "--embeddings", "e", "--out", "d"],
            "--out",
        ),
        (
            &[
                "bench",
                "search",
                "--database-url",
                "postgres://h/db",
                "--limit",
                "50",
                "--ef-search",
                "16,32",
            ],
            &["bench", "search", "--database-url", "postgres://h/db", "--queries", "50", "--ef", "16,32"],
            "--queries",
        ),
        (
            &["bench", "search", "--database-url", "postgres://h/db", "--ef-search", "16,32"],
            &["bench", "search", "--database-url", "postgres://h/db", "--ef", "16,32"],
            "--ef",
        ),
        (
            &["embed", "--input", "x", "--out", "y", "--engine", "candle"],
            &["embed", "--input", "x", "--out", "y", "--backend", "candle"],
            "--backend",
        ),
        (&["bench", "embed", "--engine", "onnx"], &["bench", "embed", "--backend", "onnx"], "--backend"),
        (
            &["serve", "--model", "m", "--model-dir", "enc"],
            &["serve", "--model", "m", "--encoder-dir", "enc"],
            "--encoder-dir",
        ),
        (
            &["serve", "--model", "m", "--index-name", "p"],
            &["serve", "--model", "m", "--pg-index", "p"],
            "--pg-index",
        ),
    ];
    for (new, old, old_flag) in pairs {
        let (n, o) = (parse(new), parse(old));
        let n = n.unwrap_or_else(|e| panic!("{new:?} refused: {e}"));
        let o = o.unwrap_or_else(|e| panic!("{old:?} refused: {e}"));
        assert_eq!(format!("{n:?}"), format!("{o:?}"), "{old:?} parses differently from {new:?}");
        let help = help_of(new);
        assert!(!help_flags(&help).contains(old_flag), "{old_flag} shows in the help of {new:?}:\n{help}");
    }
}

/// The unified flags carry one value everywhere: `-k` defaults to the same number on classify and search, and
/// `--split` takes a comma list on every command that chooses splits.
#[test]
fn one_default_for_top_k_and_a_split_list_everywhere() {
    match parse(&["classify", "--model", "m", "--title", "t", "--abstract", "a"]).unwrap().command {
        Command::Classify(c) => assert_eq!(c.top_k, super::DEFAULT_TOP_K),
        other => panic!("{other:?}"),
    }
    match parse(&["search", "q", "--index", "i"]).unwrap().command {
        Command::Search(s) => assert_eq!(s.top_k, super::DEFAULT_TOP_K),
        other => panic!("{other:?}"),
    }
    use atlas_corpus::Split::{Test, Train, Validation};
    match parse(&["embed", "--input", "x", "--out", "y", "--split", "validation,test"]).unwrap().command {
        Command::Embed(e) => assert_eq!(e.split, vec![Validation, Test]),
        other => panic!("{other:?}"),
    }
    match parse(&["index", "build", "--embeddings", "e", "--index", "d", "--split", "train"]).unwrap().command
    {
        Command::Index(IndexCommand::Build(b)) => assert_eq!(b.split, vec![Train]),
        other => panic!("{other:?}"),
    }
    match parse(&["evaluate", "--model", "m", "--input", "i", "--split", "train,test"]).unwrap().command {
        Command::Evaluate(e) => assert_eq!(e.split, vec![Train, Test]),
        other => panic!("{other:?}"),
    }
}

/// The long help of the subcommand a command line names (its leading words that are subcommands).
fn help_of(line: &[&str]) -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let mut cur = cmd;
    for word in line {
        match cur.find_subcommand(word) {
            Some(sub) => cur = sub.clone(),
            None => break,
        }
    }
    cur.render_long_help().to_string()
}

/// The `--flag` words of a help text.
fn help_flags(help: &str) -> std::collections::BTreeSet<&str> {
    help.split(|c: char| c.is_whitespace() || ",()[]<>`=".contains(c))
        .filter(|w| w.starts_with("--"))
        .collect()
}

/// `ingest --limit all` is "no limit" (what the DVC pipeline's `params.yaml` passes by default); a number is
/// a number, and anything else is refused with the accepted spellings named.
#[test]
fn ingest_limit_takes_a_count_or_all() {
    let limit = |v: &str| match parse(&["ingest", "a.jsonl", "--out", "d", "--limit", v]) {
        Ok(Cli { command: Command::Ingest(a), .. }) => Ok(a.limit.and_then(|l| l.0)),
        Ok(_) => panic!("not ingest"),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(limit("all"), Ok(None));
    assert_eq!(limit("ALL"), Ok(None));
    assert_eq!(limit("300"), Ok(Some(300)));
    let err = limit("many").unwrap_err();
    assert!(err.contains("neither a paper count nor `all`"), "{err}");
}
