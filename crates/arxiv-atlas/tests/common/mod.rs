//! Helpers of the binary's end-to-end tests that talk to a running `serve`.
#![allow(dead_code)]

/// One HTTP/1.1 exchange over a fresh connection (`Connection: close`): the status code and the JSON body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the server accepts connections");
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status line");
    (status, serde_json::from_str(payload).unwrap_or(serde_json::Value::String(payload.to_string())))
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
