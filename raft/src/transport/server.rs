//! The peer server: accepts connections, notes whether the client authenticated, and answers
//! each stream's requests in order.

use std::sync::Arc;

use futures::future::BoxFuture;
use quinn::{RecvStream, SendStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::frame::{
    read_frame, write_frame, PeerRequest, PeerResponse, MAX_FRAME, MAX_UNAUTHENTICATED_FRAME,
};

/// Answers peer requests. `authenticated` is true when the client presented a certificate
/// signed by the cluster CA.
pub trait PeerHandler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(&self, req: PeerRequest, authenticated: bool) -> BoxFuture<'_, PeerResponse>;
}

/// Serves peers on `endpoint` until `stop` is cancelled.
pub async fn serve(
    endpoint: quinn::Endpoint,
    handler: Arc<dyn PeerHandler>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let incoming = tokio::select! {
            _ = stop.cancelled() => break,
            i = endpoint.accept() => match i { Some(i) => i, None => break },
        };
        let handler = handler.clone();
        let stop = stop.clone();
        let streams = tracker.clone();
        tracker.spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "peer handshake failed");
                    return;
                }
            };
            let authenticated = conn.peer_identity().is_some();
            loop {
                let (send, recv) = tokio::select! {
                    _ = stop.cancelled() => break,
                    s = conn.accept_bi() => match s { Ok(s) => s, Err(_) => break },
                };
                streams.spawn(serve_stream(handler.clone(), send, recv, authenticated));
            }
        });
    }
    endpoint.close(0u32.into(), b"shutting down");
}

async fn serve_stream(
    handler: Arc<dyn PeerHandler>,
    mut send: SendStream,
    mut recv: RecvStream,
    authenticated: bool,
) {
    let limit = if authenticated {
        MAX_FRAME
    } else {
        MAX_UNAUTHENTICATED_FRAME
    };
    loop {
        let req = match read_frame::<_, PeerRequest>(&mut recv, limit).await {
            Ok(Some(req)) => req,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, authenticated, "refusing peer frame");
                let _ = write_frame(&mut send, &PeerResponse::Refused(e.to_string())).await;
                break;
            }
        };
        let resp = handler.handle(req, authenticated).await;
        if write_frame(&mut send, &resp).await.is_err() {
            break;
        }
    }
    let _ = send.finish();
}
