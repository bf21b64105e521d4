//! Helpers of the binary's end-to-end tests: running the binary as a user would, and talking to a running
//! `serve`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root (where `conf/` and `../shared` resolve as for a user).
pub fn repo_root() -> PathBuf {
    atlas_testkit::repo_root()
}

/// Runs the binary from the repository root.
pub fn atlas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
        .args(args)
        .current_dir(repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .output()
        .expect("the arxiv-atlas binary runs")
}

/// Runs the binary, fails the test on an error, and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = atlas(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "arxiv-atlas {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The last JSON line of a command's stdout.
pub fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("a JSON line on stdout");
    serde_json::from_str(line).expect("valid JSON")
}

/// One HTTP/1.1 exchange over a fresh connection (`Connection: close`): the status code and the JSON body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let (status, _, json) = http_with(port, method, path, &[], body);
    (status, json)
}

/// [`http`] with extra request headers (`("Authorization", "Bearer …")`); also returns the response's header
/// block.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the server accepts connections");
    let body = body.unwrap_or("");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status line");
    let json = serde_json::from_str(payload).unwrap_or(serde_json::Value::String(payload.to_string()));
    (status, head.to_string(), json)
}

/// Kills the server if the test fails before it is stopped on purpose.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the server on `port` answers `/ready` with 200 (at most 120 s; fails if it exits first).
pub fn wait_ready(server: &mut Server, port: u16) {
    let start = std::time::Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/ready", None).0 == 200
        {
            return;
        }
        assert!(server.0.try_wait().unwrap().is_none(), "serve exited before it was ready");
        assert!(start.elapsed().as_secs() < 120, "serve not ready after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
