//! Prometheus exposition of the host's [`metrics`] (`byoc serve --metrics ADDR`): every
//! counter and histogram of `byoc::instrument`, served as text on `http://ADDR/metrics`.

use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusRecorder};
use std::net::SocketAddr;
use std::time::Duration;

/// How often histograms are compacted (the exporter's default upkeep).
const UPKEEP: Duration = Duration::from_secs(5);

/// Listens on `addr` and serves the metrics of the returned recorder there, on the
/// current tokio runtime. Install the recorder ([`metrics::set_global_recorder`]) before
/// building caches: their metric handles are taken when they are built.
///
/// # Errors
/// The address cannot be bound.
pub fn endpoint(addr: SocketAddr) -> Result<PrometheusRecorder, BuildError> {
    let (recorder, exporter) = PrometheusBuilder::new().with_http_listener(addr).build()?;
    let handle = recorder.handle();
    tokio::spawn(async move {
        // The exporter serves until the runtime stops; a serving error ends it only.
        if let Err(e) = exporter.await {
            tracing::warn!(error = ?e, "the metrics endpoint stopped");
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    Ok(recorder)
}
