//! The joiner's side of admission: discover the CA, check it against the token's pin, then
//! present the secret with a certificate request over a connection that verifies the server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::data_dir::SharedSecrets;
use super::ClusterError;
use crate::frame::{PeerRequest, PeerResponse};
use crate::tls::{self, ClusterCa, NodeIdentity};
use crate::token::{ca_fingerprint, JoinToken};
use crate::transport::{PeerClient, TransportError};
use crate::NodeId;

/// How long a joiner keeps retrying a target that does not answer yet.
const JOIN_PATIENCE: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a joiner receives: the CA, its own certificate and the cluster's shared secrets.
pub struct Admission {
    pub ca: ClusterCa,
    pub identity: NodeIdentity,
    pub secrets: SharedSecrets,
}

/// Obtains the cluster CA and a certificate for node `id` from `target`.
pub async fn admit(target: &str, token: &JoinToken, id: NodeId) -> Result<Admission, ClusterError> {
    let bind: SocketAddr = ([0, 0, 0, 0], 0).into();
    let endpoint = quinn::Endpoint::client(bind).map_err(|e| {
        ClusterError::Transport(TransportError::Connect {
            addr: target.to_owned(),
            reason: e.to_string(),
        })
    })?;
    let result = admit_via(&endpoint, target, token, id).await;
    endpoint.close(0u32.into(), b"joined");
    result
}

async fn admit_via(
    endpoint: &quinn::Endpoint,
    target: &str,
    token: &JoinToken,
    id: NodeId,
) -> Result<Admission, ClusterError> {
    let io = |e: std::io::Error| ClusterError::JoinRefused(e.to_string());
    let discovery =
        PeerClient::new(endpoint.clone(), tls::discovery_client_config()?).map_err(io)?;
    let ca_pem = match patiently(&discovery, target, &PeerRequest::FetchCa).await? {
        PeerResponse::Ca(pem) => pem,
        other => {
            return Err(ClusterError::JoinRefused(format!(
                "{target} answered {}",
                describe(&other)
            )))
        }
    };
    let ca_der = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| ClusterError::JoinRefused(format!("{target} sent no CA certificate")))?;
    if ca_fingerprint(&ca_der) != token.ca_hash {
        return Err(ClusterError::JoinRefused(format!(
            "the cluster at {target} is not the one this join token was issued for (CA fingerprint mismatch)"
        )));
    }
    let (csr_der, key_pem) = tls::certificate_request(id)?;
    let joiner =
        PeerClient::new(endpoint.clone(), tls::joiner_client_config(&ca_pem)?).map_err(io)?;
    let req = PeerRequest::Join {
        secret: token.secret().to_vec(),
        id,
        csr_der,
    };
    match joiner.call(target, &req, CALL_TIMEOUT).await? {
        PeerResponse::Join(Ok(grant)) if grant.ca_cert_pem == ca_pem => {
            let ca = ClusterCa::from_pem(&grant.ca_cert_pem, &grant.ca_key_pem)?;
            Ok(Admission {
                ca,
                identity: NodeIdentity {
                    cert_pem: grant.cert_pem,
                    key_pem,
                },
                secrets: grant.secrets,
            })
        }
        PeerResponse::Join(Ok(_)) => Err(ClusterError::JoinRefused(
            "the CA changed during the join".into(),
        )),
        PeerResponse::Join(Err(reason)) => Err(ClusterError::JoinRefused(reason)),
        other => Err(ClusterError::JoinRefused(format!(
            "{target} answered {}",
            describe(&other)
        ))),
    }
}

/// Calls `target`, retrying while it cannot be reached (it may still be starting).
async fn patiently(
    client: &PeerClient,
    target: &str,
    req: &PeerRequest,
) -> Result<PeerResponse, ClusterError> {
    let deadline = Instant::now() + JOIN_PATIENCE;
    loop {
        match client.call(target, req, CALL_TIMEOUT).await {
            Ok(r) => return Ok(r),
            Err(
                e @ (TransportError::Connect { .. }
                | TransportError::Timeout(_)
                | TransportError::Resolve(_)),
            ) if Instant::now() < deadline => {
                tracing::info!(target, error = %e, "join target not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn describe(r: &PeerResponse) -> String {
    match r {
        PeerResponse::Refused(m) => format!("a refusal: {m}"),
        _ => "an unexpected reply".into(),
    }
}
