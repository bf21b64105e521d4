//! Dynamic batching with backpressure, after text-embeddings-inference.
//!
//! Handlers never run a model on the async runtime: they put a [`Job`] on a bounded queue and await its
//! answer. Dedicated worker threads take the first waiting job, then keep collecting jobs until the batch is
//! full (texts or estimated tokens) or the first job has waited `max_wait`, and run each kind of work as one
//! model call. A full queue is refused at once ([`BatchError::QueueFull`] → 429), so overload shows up as
//! fast refusals instead of ever-growing latency; jobs whose client has gone (timeout, disconnect) are
//! skipped instead of computed.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use atlas_classify::Probabilities;
use tokio::sync::oneshot;

use crate::error::ModelError;
use crate::model::{Embedded, Embedder, Model};

/// Batching and queue limits.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Most texts in one model call.
    pub max_batch_size: usize,
    /// Most estimated tokens in one model call (bounds memory for long texts).
    pub max_batch_tokens: usize,
    /// Longest time the first job of a batch waits for company before the batch runs.
    pub max_wait: Duration,
    /// Jobs that may wait in the queue; one more is refused with 429.
    pub queue_capacity: usize,
    /// Worker threads (each runs one batch at a time; the model's own threads come on top).
    pub workers: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        // 32 texts is where MiniLM CPU throughput levels off; 2 ms of waiting is small beside a ~10 ms
        // single-text inference and lets concurrent requests share a call.
        BatchConfig {
            max_batch_size: 32,
            max_batch_tokens: 16_384,
            max_wait: Duration::from_millis(2),
            queue_capacity: 256,
            workers: 1,
        }
    }
}

/// A rough token count used for batch limits before tokenizing: ~4 bytes per word piece, plus
/// [CLS]/[SEP], capped at the encoder's maximum. Tokenizing on the request path would cost more than it saves.
pub fn estimate_tokens(text: &str, max_tokens: usize) -> usize {
    (text.len() / 4 + 2).min(max_tokens.max(1))
}

/// The work of one job.
#[derive(Debug)]
pub enum Work {
    /// Class probabilities of rendered texts.
    Classify(Vec<String>),
    /// Vectors of texts.
    Embed(Vec<String>),
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Classify(t) | Work::Embed(t) => t.len(),
        }
    }
}

/// The answer to one job.
#[derive(Debug)]
pub enum Output {
    /// Rows for the job's texts.
    Classify(Probabilities),
    /// Vectors for the job's texts.
    Embed(Embedded),
}

/// One queued request.
struct Job {
    work: Work,
    tokens: usize,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Output, ModelError>>,
}

/// Why a job got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError {
    /// The queue is full: the client should retry later.
    #[error("the inference queue is full ({capacity} requests waiting); retry shortly")]
    QueueFull {
        /// Queue capacity.
        capacity: usize,
    },
    /// The workers have stopped (shutdown) or died.
    #[error("the inference workers are not running")]
    Closed,
    /// The model (or encoder) failed or panicked on the batch.
    #[error("inference failed: {0}")]
    Model(#[from] ModelError),
    /// This work needs an encoder and none is loaded.
    #[error("no encoder is loaded")]
    NoEncoder,
}

/// The queue and its worker threads.
pub struct Batcher {
    tx: Mutex<Option<SyncSender<Job>>>,
    depth: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
    config: BatchConfig,
    has_embedder: bool,
    max_tokens: usize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts `config.workers` threads serving `model` (and `embedder`, when given).
    pub fn start(model: Arc<dyn Model>, embedder: Option<Arc<dyn Embedder>>, config: BatchConfig) -> Batcher {
        let config = BatchConfig {
            max_batch_size: config.max_batch_size.max(1),
            max_batch_tokens: config.max_batch_tokens.max(1),
            queue_capacity: config.queue_capacity.max(1),
            workers: config.workers.max(1),
            ..config
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(config.queue_capacity);
        let rx = Arc::new(Mutex::new(rx));
        let depth = Arc::new(AtomicUsize::new(0));
        let alive = Arc::new(AtomicUsize::new(0));
        let max_tokens = embedder.as_ref().map_or(512, |e| e.max_tokens());
        let mut workers = Vec::new();
        for i in 0..config.workers {
            let ctx = WorkerCtx {
                rx: rx.clone(),
                depth: depth.clone(),
                alive: alive.clone(),
                model: model.clone(),
                embedder: embedder.clone(),
                config: config.clone(),
            };
            alive.fetch_add(1, Ordering::SeqCst);
            let handle = std::thread::Builder::new()
                .name(format!("atlas-infer-{i}"))
                .spawn(move || ctx.run())
                .expect("spawning an inference worker thread");
            workers.push(handle);
        }
        Batcher {
            tx: Mutex::new(Some(tx)),
            depth,
            alive,
            has_embedder: embedder.is_some(),
            max_tokens,
            config,
            workers: Mutex::new(workers),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Jobs waiting now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Worker threads running now.
    pub fn workers_alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    /// Whether embedding work can be served.
    pub fn has_embedder(&self) -> bool {
        self.has_embedder
    }

    /// Queues `work` and waits for its answer.
    pub async fn submit(&self, work: Work) -> Result<Output, BatchError> {
        if matches!(work, Work::Embed(_)) && !self.has_embedder {
            return Err(BatchError::NoEncoder);
        }
        let tokens = match &work {
            Work::Classify(t) | Work::Embed(t) => t.iter().map(|s| estimate_tokens(s, self.max_tokens)).sum(),
        };
        let (reply, answer) = oneshot::channel();
        let job = Job { work, tokens, enqueued: Instant::now(), reply };
        {
            let guard = self.tx.lock().map_err(|_| BatchError::Closed)?;
            let tx = guard.as_ref().ok_or(BatchError::Closed)?;
            // Counted before sending so that a worker's decrement can never run first and wrap below zero.
            // The gauge moves by increments, not `set`: a `set` here could land after the worker's and leave a
            // stale depth behind.
            self.depth.fetch_add(1, Ordering::SeqCst);
            metrics::gauge!("atlas_queue_depth").increment(1.0);
            match tx.try_send(job) {
                Ok(()) => {}
                Err(e) => {
                    self.depth.fetch_sub(1, Ordering::SeqCst);
                    metrics::gauge!("atlas_queue_depth").decrement(1.0);
                    return Err(match e {
                        TrySendError::Full(_) => {
                            metrics::counter!("atlas_queue_rejected_total").increment(1);
                            BatchError::QueueFull { capacity: self.config.queue_capacity }
                        }
                        TrySendError::Disconnected(_) => BatchError::Closed,
                    });
                }
            }
        }
        match answer.await {
            Ok(r) => r.map_err(BatchError::Model),
            Err(_) => Err(BatchError::Closed),
        }
    }

    /// Class probabilities of rendered texts.
    pub async fn classify(&self, texts: Vec<String>) -> Result<Probabilities, BatchError> {
        match self.submit(Work::Classify(texts)).await? {
            Output::Classify(p) => Ok(p),
            Output::Embed(_) => {
                Err(BatchError::Model(ModelError::new("worker answered with the wrong kind")))
            }
        }
    }

    /// Vectors of texts.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Embedded, BatchError> {
        match self.submit(Work::Embed(texts)).await? {
            Output::Embed(e) => Ok(e),
            Output::Classify(_) => {
                Err(BatchError::Model(ModelError::new("worker answered with the wrong kind")))
            }
        }
    }

    /// Stops taking jobs, lets the workers finish what is queued, and waits for them.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handles = self.workers.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct WorkerCtx {
    rx: Arc<Mutex<Receiver<Job>>>,
    depth: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
    model: Arc<dyn Model>,
    embedder: Option<Arc<dyn Embedder>>,
    config: BatchConfig,
}

impl WorkerCtx {
    fn run(self) {
        let mut held: Option<Job> = None;
        while let Some(batch) = self.next_batch(&mut held) {
            self.execute(batch);
        }
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }

    fn taken(&self) {
        self.depth.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("atlas_queue_depth").decrement(1.0);
    }

    /// Blocks for a first job, then gathers more until a limit or the first job's deadline. A job that would
    /// overflow the batch is held for the next one. `None` when the queue is closed and drained.
    fn next_batch(&self, held: &mut Option<Job>) -> Option<Vec<Job>> {
        // One worker forms a batch at a time; the others wait here, which is what keeps batches full.
        let rx = self.rx.lock().ok()?;
        let first = match held.take() {
            Some(j) => j,
            None => {
                let j = rx.recv().ok()?;
                self.taken();
                j
            }
        };
        let deadline = first.enqueued + self.config.max_wait;
        let (mut texts, mut tokens) = (first.work.len(), first.tokens);
        let mut batch = vec![first];
        while texts < self.config.max_batch_size && tokens < self.config.max_batch_tokens {
            let now = Instant::now();
            let next = if now >= deadline {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            } else {
                match rx.recv_timeout(deadline - now) {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            };
            self.taken();
            if texts + next.work.len() > self.config.max_batch_size
                || tokens + next.tokens > self.config.max_batch_tokens
            {
                *held = Some(next);
                break;
            }
            texts += next.work.len();
            tokens += next.tokens;
            batch.push(next);
        }
        Some(batch)
    }

    fn execute(&self, batch: Vec<Job>) {
        let (mut classify, mut embed) = (Vec::new(), Vec::new());
        for job in batch {
            if job.reply.is_closed() {
                // The client timed out or went away while the job waited: skip the work.
                metrics::counter!("atlas_jobs_cancelled_total").increment(1);
                continue;
            }
            metrics::histogram!("atlas_queue_wait_seconds").record(job.enqueued.elapsed().as_secs_f64());
            match job.work {
                Work::Classify(_) => classify.push(job),
                Work::Embed(_) => embed.push(job),
            }
        }
        if !classify.is_empty() {
            self.run_group(classify, "classify", |texts| {
                self.model.predict(texts).map(|p| split_probabilities(&p, texts.len()))
            });
        }
        if !embed.is_empty() {
            self.run_group(embed, "embed", |texts| match &self.embedder {
                Some(e) => e.embed(texts).map(|x| split_embedded(&x)),
                None => Err(ModelError::new("no encoder is loaded")),
            });
        }
    }

    /// Runs one model call for a group of jobs and hands each job its rows. A panic inside the model is
    /// caught and answered as an error, so one bad batch cannot take the worker (and the server) down.
    fn run_group(
        &self,
        jobs: Vec<Job>,
        kind: &'static str,
        call: impl FnOnce(&[String]) -> Result<Vec<Output>, ModelError>,
    ) {
        let mut texts = Vec::new();
        let mut sizes = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        let mut tokens = 0;
        for job in jobs {
            let t = match job.work {
                Work::Classify(t) | Work::Embed(t) => t,
            };
            sizes.push(t.len());
            tokens += job.tokens;
            texts.extend(t);
            replies.push(job.reply);
        }
        metrics::histogram!("atlas_batch_size", "work" => kind).record(texts.len() as f64);
        metrics::histogram!("atlas_batch_requests", "work" => kind).record(replies.len() as f64);
        metrics::histogram!("atlas_batch_tokens", "work" => kind).record(tokens as f64);
        let start = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| call(&texts)))
            .unwrap_or_else(|_| Err(ModelError::new(format!("the {kind} model panicked on a batch"))));
        metrics::histogram!("atlas_inference_seconds", "work" => kind).record(start.elapsed().as_secs_f64());
        match result {
            Ok(rows) => {
                // `rows` has one output per text; regroup them per job.
                let mut rows = rows.into_iter();
                for (reply, n) in replies.into_iter().zip(sizes) {
                    let part: Vec<Output> = rows.by_ref().take(n).collect();
                    let _ = reply.send(Ok(merge(part)));
                }
            }
            Err(e) => {
                tracing::warn!("{kind} batch of {} texts failed: {e}", texts.len());
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One single-row [`Output`] per row of `p`.
fn split_probabilities(p: &Probabilities, n: usize) -> Vec<Output> {
    (0..n.min(p.len()))
        .map(|i| Output::Classify(Probabilities { n_classes: p.n_classes, data: p.row(i).to_vec() }))
        .collect()
}

/// One single-row [`Output`] per vector of `e`; token counts are spread evenly (they are only reported).
fn split_embedded(e: &Embedded) -> Vec<Output> {
    let n = e.len().max(1);
    (0..e.len())
        .map(|i| Output::Embed(Embedded { dim: e.dim, data: e.row(i).to_vec(), tokens: e.tokens / n }))
        .collect()
}

/// Joins single-row outputs back into one answer.
fn merge(parts: Vec<Output>) -> Output {
    let mut probs: Option<Probabilities> = None;
    let mut emb: Option<Embedded> = None;
    for p in parts {
        match p {
            Output::Classify(r) => match &mut probs {
                Some(acc) => acc.data.extend(r.data),
                None => probs = Some(r),
            },
            Output::Embed(r) => match &mut emb {
                Some(acc) => {
                    acc.data.extend(r.data);
                    acc.tokens += r.tokens;
                }
                None => emb = Some(r),
            },
        }
    }
    match (probs, emb) {
        (Some(p), _) => Output::Classify(p),
        (None, Some(e)) => Output::Embed(e),
        (None, None) => Output::Classify(Probabilities { n_classes: 0, data: Vec::new() }),
    }
}
