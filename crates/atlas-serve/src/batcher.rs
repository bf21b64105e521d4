//! Dynamic batching with backpressure, after text-embeddings-inference.
//!
//! Handlers never run a model on the async runtime: they put a [`Job`] on a bounded queue and await its
//! answer. Dedicated worker threads take the first waiting job, then keep collecting jobs until the batch is
//! full (texts or estimated tokens) or the first job has waited `max_wait`, and run each kind of work as one
//! model call. A job that would overflow the batch being formed goes back to the front of the shared queue,
//! as in text-embeddings-inference's queue, so that the next free worker starts with it. A full queue is
//! refused at once ([`BatchError::QueueFull`] → 429), so overload shows up as fast refusals instead of
//! ever-growing latency; jobs whose client has gone (timeout, disconnect) are skipped instead of computed.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
    /// This work needs a classifier and none is loaded.
    #[error("no classifier is loaded")]
    NoModel,
}

/// The jobs waiting for a worker, oldest first, shared by every worker.
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when a job arrives or the queue closes.
    changed: Condvar,
    /// Held by the one worker forming a batch: the others wait for it here, which is what keeps batches full.
    /// The worker lets go before it runs its batch.
    forming: Mutex<()>,
}

struct QueueState {
    jobs: VecDeque<Job>,
    /// No job is accepted any more; the workers finish the queued ones and stop.
    closed: bool,
}

impl Queue {
    /// The state, also after a panic elsewhere poisoned the lock (the state is a queue and a flag, always
    /// consistent between two statements).
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The queue and its worker threads.
pub struct Batcher {
    queue: Arc<Queue>,
    alive: Arc<AtomicUsize>,
    config: BatchConfig,
    has_embedder: bool,
    has_model: bool,
    max_tokens: usize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts `config.workers` threads serving `model` and `embedder`, each when given.
    pub fn start(
        model: Option<Arc<dyn Model>>,
        embedder: Option<Arc<dyn Embedder>>,
        config: BatchConfig,
    ) -> Batcher {
        let config = BatchConfig {
            max_batch_size: config.max_batch_size.max(1),
            max_batch_tokens: config.max_batch_tokens.max(1),
            queue_capacity: config.queue_capacity.max(1),
            workers: config.workers.max(1),
            ..config
        };
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::with_capacity(config.queue_capacity),
                closed: false,
            }),
            changed: Condvar::new(),
            forming: Mutex::new(()),
        });
        let alive = Arc::new(AtomicUsize::new(0));
        let max_tokens = embedder.as_ref().map_or(512, |e| e.max_tokens());
        let mut workers = Vec::new();
        for i in 0..config.workers {
            let ctx = WorkerCtx {
                queue: queue.clone(),
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
            queue,
            alive,
            has_embedder: embedder.is_some(),
            has_model: model.is_some(),
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
        self.queue.lock().jobs.len()
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
        if matches!(work, Work::Classify(_)) && !self.has_model {
            return Err(BatchError::NoModel);
        }
        let tokens = match &work {
            Work::Classify(t) | Work::Embed(t) => t.iter().map(|s| estimate_tokens(s, self.max_tokens)).sum(),
        };
        let (reply, answer) = oneshot::channel();
        let job = Job { work, tokens, enqueued: Instant::now(), reply };
        {
            let mut q = self.queue.lock();
            if q.closed {
                return Err(BatchError::Closed);
            }
            if q.jobs.len() >= self.config.queue_capacity {
                metrics::counter!("atlas_queue_rejected_total").increment(1);
                return Err(BatchError::QueueFull { capacity: self.config.queue_capacity });
            }
            q.jobs.push_back(job);
            // Under the lock, so that the gauge moves in the same order as the queue.
            metrics::gauge!("atlas_queue_depth").increment(1.0);
        }
        self.queue.changed.notify_one();
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
        self.queue.lock().closed = true;
        self.queue.changed.notify_all();
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
    queue: Arc<Queue>,
    alive: Arc<AtomicUsize>,
    model: Option<Arc<dyn Model>>,
    embedder: Option<Arc<dyn Embedder>>,
    config: BatchConfig,
}

impl WorkerCtx {
    fn run(self) {
        while let Some(batch) = self.next_batch() {
            self.execute(batch);
        }
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }

    /// Blocks for a first job, then gathers more until a limit or the first job's deadline. A job that would
    /// overflow the batch goes back to the front of the queue for the next free worker (keeping it here
    /// would leave it waiting for this worker's batch while another worker idles). `None` when the queue is
    /// closed and drained.
    fn next_batch(&self) -> Option<Vec<Job>> {
        let _forming = self.queue.forming.lock().unwrap_or_else(PoisonError::into_inner);
        let mut q = self.queue.lock();
        let first = loop {
            if let Some(j) = q.jobs.pop_front() {
                break j;
            }
            if q.closed {
                return None;
            }
            q = self.queue.changed.wait(q).unwrap_or_else(PoisonError::into_inner);
        };
        metrics::gauge!("atlas_queue_depth").decrement(1.0);
        let deadline = first.enqueued + self.config.max_wait;
        let (mut texts, mut tokens) = (first.work.len(), first.tokens);
        let mut batch = vec![first];
        while texts < self.config.max_batch_size && tokens < self.config.max_batch_tokens {
            let Some(next) = q.jobs.pop_front() else {
                let now = Instant::now();
                if now >= deadline || q.closed {
                    break;
                }
                q = self
                    .queue
                    .changed
                    .wait_timeout(q, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            };
            if texts + next.work.len() > self.config.max_batch_size
                || tokens + next.tokens > self.config.max_batch_tokens
            {
                q.jobs.push_front(next);
                break;
            }
            metrics::gauge!("atlas_queue_depth").decrement(1.0);
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
            self.run_group(classify, "classify", |texts| match &self.model {
                Some(m) => m.predict(texts).map(|p| split_probabilities(&p, texts.len())),
                // `submit` refuses classify work without a model; this only guards the invariant.
                None => Err(ModelError::new("no classifier is loaded")),
            });
        }
        if !embed.is_empty() {
            self.run_group(embed, "embed", |texts| match &self.embedder {
                Some(e) => e.embed(texts).and_then(|x| {
                    if x.tokens.len() != x.len() {
                        return Err(ModelError::new(format!(
                            "the encoder counted tokens for {} of its {} vectors",
                            x.tokens.len(),
                            x.len()
                        )));
                    }
                    Ok(split_embedded(&x))
                }),
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

/// One single-row [`Output`] per vector of `e`, each with its own token count.
fn split_embedded(e: &Embedded) -> Vec<Output> {
    (0..e.len())
        .zip(&e.tokens)
        .map(|(i, &t)| Output::Embed(Embedded { dim: e.dim, data: e.row(i).to_vec(), tokens: vec![t] }))
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
                    acc.tokens.extend(r.tokens);
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

#[cfg(test)]
mod tests {
    use std::sync::Condvar;

    use atlas_classify::Labels;

    use super::*;
    use crate::model::ModelInfo;

    /// A classifier whose calls block until the test opens the gate; it counts its calls and notes the
    /// worker thread of each.
    struct GatedModel {
        labels: Labels,
        info: ModelInfo,
        open: Mutex<bool>,
        opened: Condvar,
        calls: Mutex<Vec<String>>,
    }

    impl GatedModel {
        fn new() -> Arc<GatedModel> {
            Arc::new(GatedModel {
                labels: Labels { codes: vec!["a".into(), "b".into()], names: vec!["A".into(), "B".into()] },
                info: ModelInfo {
                    version: "gated".into(),
                    kind: "test".into(),
                    template: atlas_corpus::TextTemplate::default(),
                    dir: String::new(),
                },
                open: Mutex::new(false),
                opened: Condvar::new(),
                calls: Mutex::new(Vec::new()),
            })
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Model for GatedModel {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn labels(&self) -> &Labels {
            &self.labels
        }
        fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
            let thread = std::thread::current().name().unwrap_or("?").to_string();
            self.calls.lock().unwrap().push(thread);
            let open = self.open.lock().unwrap();
            // Bounded, so that a test that fails cannot hang the suite.
            let _ = self.opened.wait_timeout_while(open, Duration::from_secs(10), |o| !*o).unwrap();
            Ok(Probabilities { n_classes: 2, data: texts.iter().flat_map(|_| [0.5, 0.5]).collect() })
        }
    }

    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(3);
        while !done() {
            if Instant::now() > until {
                eprintln!("gave up waiting for {what}");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    /// A job that does not fit the batch a worker is forming goes back to the front of the shared queue, where
    /// an idle worker takes it at once, instead of waiting for the busy worker's batch to finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_overflowing_job_goes_to_an_idle_worker() {
        let model = GatedModel::new();
        let config = BatchConfig {
            max_batch_size: 2,
            // Long enough that the first worker is still gathering when the second job comes.
            max_wait: Duration::from_secs(5),
            workers: 2,
            ..BatchConfig::default()
        };
        let batcher = Arc::new(Batcher::start(Some(model.clone()), None, config));
        let b = batcher.clone();
        let first = tokio::spawn(async move { b.classify(vec!["one".into()]).await });
        assert!(wait_for("a worker to take the first job", || batcher.queue_depth() == 0).await);
        // Two texts: with the first job's one they would exceed max_batch_size.
        let b = batcher.clone();
        let second = tokio::spawn(async move { b.classify(vec!["two".into(), "three".into()]).await });
        let both_running = wait_for("both jobs in the model", || model.calls().len() == 2).await;
        model.open();
        let calls = model.calls();
        assert!(both_running, "the overflowing job waited for the busy worker: calls {calls:?}");
        assert_ne!(calls[0], calls[1], "both batches ran on one worker: {calls:?}");
        assert_eq!(first.await.unwrap().unwrap().len(), 1);
        assert_eq!(second.await.unwrap().unwrap().len(), 2);
        batcher.shutdown();
    }

    /// An embedder that reads one token per word plus [CLS] and [SEP], and counts its calls.
    struct WordEmbedder {
        calls: AtomicUsize,
    }

    impl Embedder for WordEmbedder {
        fn name(&self) -> &str {
            "words"
        }
        fn embedding_id(&self) -> &str {
            "words"
        }
        fn dim(&self) -> usize {
            1
        }
        fn max_tokens(&self) -> usize {
            512
        }
        fn render_paper(&self, title: &str, _: &str) -> String {
            title.to_string()
        }
        fn embed(&self, texts: &[String]) -> Result<Embedded, ModelError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let tokens = texts.iter().map(|t| t.split_whitespace().count() + 2).collect();
            Ok(Embedded { dim: 1, data: vec![1.0; texts.len()], tokens })
        }
    }

    fn embed_batcher(config: BatchConfig) -> (Batcher, Arc<WordEmbedder>) {
        let e = Arc::new(WordEmbedder { calls: AtomicUsize::new(0) });
        (Batcher::start(Some(GatedModel::new()), Some(e.clone()), config), e)
    }

    /// Texts of 5, 3 and 3 tokens are 11 tokens, not 3 × (11 / 3).
    #[tokio::test]
    async fn a_request_is_charged_the_tokens_of_its_own_texts() {
        let (b, _) = embed_batcher(BatchConfig::default());
        let e = b.embed(vec!["one two three".into(), "a".into(), "b".into()]).await.unwrap();
        assert_eq!(e.tokens, vec![5, 3, 3]);
        assert_eq!(e.total_tokens(), 11);
        b.shutdown();
    }

    /// Two requests merged into one model call are each charged their own tokens, not a share of the batch's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merged_requests_are_charged_their_own_tokens() {
        let config =
            BatchConfig { max_batch_size: 2, max_wait: Duration::from_secs(5), ..BatchConfig::default() };
        let (b, embedder) = embed_batcher(config);
        let b = Arc::new(b);
        let b1 = b.clone();
        let long = tokio::spawn(async move { b1.embed(vec!["one two three four five six".into()]).await });
        assert!(wait_for("the worker to take the first job", || b.queue_depth() == 0).await);
        let short = b.embed(vec!["x".into()]).await.unwrap();
        let long = long.await.unwrap().unwrap();
        assert_eq!(embedder.calls.load(Ordering::SeqCst), 1, "the two requests did not share a model call");
        assert_eq!((long.total_tokens(), short.total_tokens()), (8, 3));
        b.shutdown();
    }
}
