//! PostgreSQL named by the environment: the pgvector index, the request log, the database of `index` commands.

use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;
use postgres::{Config, NoTls};

use crate::report::{Check, Status};
use crate::Machine;

/// The variables that may hold a PostgreSQL URL, and what each is for.
pub const POSTGRES_VARS: &[(&str, &str)] = &[
    ("ARXIV_ATLAS_INDEX", "the similar-paper index of `serve` and `search` (pgvector)"),
    ("ARXIV_ATLAS_REQUEST_LOG", "the request log of `serve`"),
    ("ARXIV_ATLAS_DATABASE_URL", "the database of the `index` commands (pgvector)"),
];

/// How long a connection attempt may take: a doctor that hangs on an unreachable host helps nobody.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One check per variable that holds a `postgres://` URL; one `postgres` info line when none does.
pub(crate) fn checks(m: &Machine) -> Vec<Check> {
    let mut out = Vec::new();
    for &(var, role) in POSTGRES_VARS {
        let Some(url) = m.var(var).filter(|v| v.starts_with("postgres://") || v.starts_with("postgresql://"))
        else {
            continue;
        };
        let needs_vector = var != "ARXIV_ATLAS_REQUEST_LOG";
        out.push(check(var, role, url, needs_vector, m.live));
    }
    if out.is_empty() {
        let names: Vec<&str> = POSTGRES_VARS.iter().map(|(v, _)| *v).collect();
        out.push(Check::new(
            "postgres",
            Status::Info,
            format!("no PostgreSQL URL in {}", names.join(", ")),
            "only a pgvector index or a PostgreSQL request log needs a server; folders and SQLite are the defaults",
        ));
    }
    out
}

fn check(var: &str, role: &str, url: &str, needs_vector: bool, live: bool) -> Check {
    let name = format!("postgres:{var}");
    let why = format!("{var} names {role}");
    let mut config = match Config::from_str(url) {
        Ok(c) => c,
        // The parser's message may quote the URL, password included: say only that it did not parse.
        Err(_) => {
            return Check::new(&name, Status::Missing, format!("{var} is not a valid PostgreSQL URL"), why)
                .fix(format!("set {var}=postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"));
        }
    };
    let shown = redacted(&config);
    if !live {
        return Check::new(&name, Status::Info, format!("{shown} (not connected)"), why);
    }
    let fix = format!(
        "start a server (bash scripts/postgres.sh start prints a URL: PostgreSQL 15 + pgvector) or correct {var}"
    );
    config.connect_timeout(CONNECT_TIMEOUT);
    let mut client = match config.connect(NoTls) {
        Ok(c) => c,
        Err(e) => {
            let message = scrub(&chain(&e), config.get_password());
            return Check::new(&name, Status::Missing, format!("{shown}: cannot connect: {message}"), why)
                .fix(fix);
        }
    };
    let row = client.query_one(
        "SELECT current_setting('server_version'), \
                (SELECT extversion FROM pg_extension WHERE extname = 'vector'), \
                (SELECT default_version FROM pg_available_extensions WHERE name = 'vector')",
        &[],
    );
    let (server, installed, available): (String, Option<String>, Option<String>) = match row {
        Ok(r) => (r.get(0), r.get(1), r.get(2)),
        Err(e) => {
            let message = scrub(&chain(&e), config.get_password());
            return Check::new(
                &name,
                Status::Missing,
                format!("{shown}: connected, but the query failed: {message}"),
                why,
            )
            .fix(fix);
        }
    };
    let vector = match (installed, available) {
        (Some(v), _) => format!("pgvector {v} installed"),
        (None, Some(v)) => format!("pgvector {v} available (created on first use)"),
        (None, None) => "no pgvector".to_owned(),
    };
    let found = format!("{shown}: PostgreSQL {server}, {vector}");
    if needs_vector && vector == "no pgvector" {
        return Check::new(&name, Status::Missing, found, why).fix(
            "install pgvector 0.8 or later on that server (bash scripts/postgres.sh start runs one with it; \
             docs/scaling.md says which builds run on which CPUs)",
        );
    }
    Check::new(&name, Status::Ok, found, why)
}

/// The URL without its password: `postgres://user@host:port/db`.
fn redacted(c: &Config) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[allow(unreachable_patterns)] // Unix sockets exist on Unix targets only
                other => format!("{other:?}"),
            };
            let port = c.get_ports().get(i).or(c.get_ports().first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = c.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

/// The error and its causes, `a: b: c` (the client's own message alone, `error connecting to server`, hides
/// whether the port was closed or the password wrong).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `message` with any occurrence of the password replaced (a server may echo parts of the connection string).
fn scrub(message: &str, password: Option<&[u8]>) -> String {
    match password.map(String::from_utf8_lossy).filter(|p| !p.is_empty()) {
        Some(p) => message.replace(p.as_ref(), "***"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        let c = Config::from_str("postgres://atlas:s3cret@db.example:6543/papers").unwrap();
        assert_eq!(redacted(&c), "postgres://atlas@db.example:6543/papers");
        let c = Config::from_str("postgresql://localhost/x").unwrap();
        assert_eq!(redacted(&c), "postgres://localhost:5432/x");
        assert_eq!(scrub("bad s3cret here", Some(b"s3cret")), "bad *** here");
        assert_eq!(scrub("plain", None), "plain");
    }
}
