//! The operations endpoint: /healthz and /metrics.

mod self_metrics;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};

use crate::{metrics::Metrics, stats::SelfStats};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("binding the operations endpoint {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct OpsState {
    ready: Arc<AtomicBool>,
    stats: Arc<SelfStats>,
    metrics: Metrics,
}

/// Binds `addr` and serves until the runtime stops. Returns the bound address (the port may
/// have been 0).
pub async fn serve(
    addr: SocketAddr,
    ready: Arc<AtomicBool>,
    stats: Arc<SelfStats>,
    series: Metrics,
) -> Result<SocketAddr, OpsError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| OpsError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| OpsError::Bind { addr, source })?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(OpsState {
            ready,
            stats,
            metrics: series,
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("operations endpoint stopped: {e}");
        }
    });
    Ok(local)
}

async fn healthz(State(state): State<OpsState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "probes not attached yet\n")
    }
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    match self_metrics::render(&state.stats).map(|own| state.metrics.append_openmetrics(own)) {
        Ok(body) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain")],
            String::new(),
        ),
    }
}
