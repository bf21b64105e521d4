//! `serve`: flags → [`atlas_serve::ServeOptions`] → a running HTTP server until Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use atlas_serve::{BatchConfig, DriftOptions, LogTarget, ServeOptions, ServerConfig};

use crate::cli::ServeArgs;

fn options(a: &ServeArgs) -> Result<ServeOptions> {
    if !(a.request_timeout_s > 0.0 && a.request_timeout_s.is_finite()) {
        bail!("--request-timeout-s must be a positive number of seconds");
    }
    let server = ServerConfig {
        batch: BatchConfig {
            max_batch_size: a.max_batch_size,
            max_batch_tokens: a.max_batch_tokens.unwrap_or(BatchConfig::default().max_batch_tokens),
            max_wait: Duration::from_millis(a.max_wait_ms),
            queue_capacity: a.queue_capacity,
            workers: a.workers as usize,
        },
        body_limit: a.body_limit,
        request_timeout: Duration::from_secs_f64(a.request_timeout_s),
        ..ServerConfig::default()
    };
    if !(a.drift_interval_s >= 0.0 && a.drift_interval_s.is_finite()) {
        bail!("--drift-interval-s must be a number of seconds (0 turns drift monitoring off)");
    }
    let drift = if a.drift_interval_s > 0.0 {
        Some(DriftOptions {
            interval: Duration::from_secs_f64(a.drift_interval_s),
            windows: a.drift_windows.clone(),
            max_requests: a.drift_max_requests,
            min_requests: a.drift_min_requests,
            // The same thresholds as `arxiv-atlas drift` (conf/ or the built-in defaults, ARXIV_ATLAS_* overrides).
            params: atlas_config::load_for_process(None, &[])?.config.monitor,
        })
    } else {
        None
    };
    Ok(ServeOptions {
        model: a.model.clone(),
        index: a.index.as_deref().map(|i| atlas_index::IndexLocation::parse(i, &a.index_name)),
        ef_search: a.ef_search,
        model_dir: a.model_dir.clone(),
        taxonomy: a.taxonomy.clone(),
        request_log: (!a.no_request_log).then(|| LogTarget::parse(&a.request_log)),
        server,
        max_batch_tokens: a.max_batch_tokens,
        drift,
        admin_token: admin_token(a)?,
    })
}

/// The admin token from `--admin-token-file` or `$ARXIV_ATLAS_ADMIN_TOKEN`; both at once is refused, since
/// which one an operator meant cannot be told.
fn admin_token(a: &ServeArgs) -> Result<Option<atlas_serve::AdminToken>> {
    let env = std::env::var(atlas_serve::ADMIN_TOKEN_ENV).ok().filter(|t| !t.is_empty());
    Ok(match (&a.admin_token_file, env) {
        (Some(_), Some(_)) => bail!(
            "the admin token is given twice: --admin-token-file and {}; keep one",
            atlas_serve::ADMIN_TOKEN_ENV
        ),
        (Some(file), None) => Some(atlas_serve::AdminToken::from_file(file)?),
        (None, Some(token)) => {
            Some(atlas_serve::AdminToken::new(&token).context(atlas_serve::ADMIN_TOKEN_ENV)?)
        }
        (None, None) => None,
    })
}

pub fn serve(a: ServeArgs) -> Result<()> {
    run(atlas_serve::build_state(&options(&a)?)?, &a.addr)
}

/// Serves `state` on `addr` until Ctrl-C or SIGTERM, finishing requests in flight.
pub fn run(state: atlas_serve::AppState, addr: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        let addr = listener.local_addr()?;
        let since_start = crate::PROCESS_START.get().map(|t| t.elapsed().as_secs_f64());
        tracing::info!(
            process_start_to_listen_s = since_start,
            "serving on http://{addr}/ (docs at /docs, metrics at /metrics)"
        );
        // Scripts read this line to learn the port when --addr ends in :0.
        println!("listening on http://{addr}");
        atlas_serve::serve(listener, state, atlas_serve::shutdown_signal()).await?;
        tracing::info!("server stopped");
        Ok(())
    })
}
