//! Building the node's QUIC endpoint from a bound UDP socket.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;

/// Transport settings shared by both directions. Frequent keep-alives with a short idle timeout
/// let a node notice a dead peer's connection within a few seconds (a restarted peer cannot
/// reset the old connection: its endpoint has a new reset key), then dial it afresh.
pub fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_millis(500)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(Duration::from_secs(3)) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}

/// Creates an endpoint on `socket` that serves peers with `server` TLS.
pub fn make_endpoint(
    socket: std::net::UdpSocket,
    server: rustls::ServerConfig,
) -> std::io::Result<quinn::Endpoint> {
    let crypto = QuicServerConfig::try_from(server).map_err(std::io::Error::other)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport_config());
    let runtime =
        quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime"))?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(cfg), socket, runtime)
}
