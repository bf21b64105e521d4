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
