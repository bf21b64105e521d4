//! Graceful shutdown over a real socket: a request in flight when the signal comes still gets its answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_classify::{Labels, Probabilities};
use atlas_serve::{AppState, Model, ModelError, ModelInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct SlowModel {
    labels: Labels,
    info: ModelInfo,
    entered: Arc<AtomicBool>,
}

impl Model for SlowModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
        self.entered.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(600));
        Ok(Probabilities { n_classes: 1, data: vec![1.0; texts.len()] })
    }
}

async fn raw_post(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_after_the_signal() {
    let entered = Arc::new(AtomicBool::new(false));
    let model = SlowModel {
        labels: Labels { codes: vec!["cs.LG".into()], names: vec!["Machine Learning".into()] },
        info: ModelInfo {
            version: "slow".into(),
            kind: "test".into(),
            template: "{title}".parse().expect("a valid template"),
            dir: String::new(),
        },
        entered: entered.clone(),
    };
    let state = AppState::builder(Arc::new(model)).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(atlas_serve::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let request = tokio::spawn(async move { raw_post(addr, "/v1/classify", r#"{"title": "slow"}"#).await });
    while !entered.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    let answer = request.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"category\":\"cs.LG\""), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server stopped").unwrap().unwrap();
    assert!(state.is_draining());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed after shutdown");
}
