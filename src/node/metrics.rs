//! The Prometheus recorder behind `/metrics`: one per process, installed by the first gateway
//! started (tests start several gateways in one process).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's Prometheus recorder, installed by the first gateway started.
pub(super) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; ours then stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
