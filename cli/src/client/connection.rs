//! The CLI's gRPC client: dials the environment's addresses in order and fails over.
//!
//! A call moves to the next address when dialling fails; a read also when the server answers
//! `Unavailable` (a mutation does not: it may have been applied).
//! Every request carries `micro-namespace`, as Micro's client wrapper adds `Micro-Namespace`, and,
//! once a token is attached, `authorization: Bearer <access token>`.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{AddressList, RpcError};

/// Metadata key carrying the caller's namespace.
pub(crate) const NAMESPACE_HEADER: &str = "micro-namespace";
/// Metadata key carrying the caller's access token.
pub(crate) const AUTHORIZATION_HEADER: &str = "authorization";
/// How long one dial may take before the next address is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take, streaming included (Micro's `call` default is 15s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client for one environment.
#[derive(Debug, Clone)]
pub struct Client {
    /// Addresses in failover order.
    addresses: AddressList,
    /// The `micro-namespace` value sent with every request.
    namespace: AsciiMetadataValue,
    /// `Bearer <access token>`, sent with every request when the user is logged in.
    authorization: Option<AsciiMetadataValue>,
    /// Per-dial timeout.
    connect_timeout: Duration,
    /// Per-request timeout.
    request_timeout: Duration,
}

impl Client {
    /// Creates a client; nothing is dialled until the first call.
    pub fn new(addresses: AddressList, namespace: &str) -> Result<Self> {
        let namespace = namespace
            .parse::<AsciiMetadataValue>()
            .ok()
            .filter(|_| !namespace.is_empty())
            .with_context(|| format!("invalid namespace {namespace:?}"))?;
        Ok(Client {
            addresses,
            namespace,
            authorization: None,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    /// Returns this client sending `authorization: Bearer <access_token>` with every request.
    pub fn with_token(mut self, access_token: &str) -> Result<Self> {
        let mut value = format!("Bearer {access_token}")
            .parse::<AsciiMetadataValue>()
            .ok()
            .filter(|_| !access_token.is_empty())
            .context("the saved access token is not a valid header value")?;
        // Keeps the token out of debug output and tracing.
        value.set_sensitive(true);
        self.authorization = Some(value);
        Ok(self)
    }

    /// Wraps a message in a request carrying the namespace and authorization headers.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert(NAMESPACE_HEADER, self.namespace.clone());
        if let Some(authorization) = &self.authorization {
            metadata.insert(AUTHORIZATION_HEADER, authorization.clone());
        }
        request
    }

    /// Runs an idempotent `call` (a read) against the first address that connects and does not
    /// answer `Unavailable`.
    ///
    /// `call` gets a fresh channel per attempt and must build its request each time (requests are
    /// consumed).
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, RpcError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.attempt(call, true).await
    }

    /// Runs a mutation against the first address that connects. Unlike [`Client::call`] it never
    /// retries elsewhere once a node took the request: an `Unavailable` answer may mean the
    /// write was applied, and repeating it could apply it twice or turn a successful
    /// create-only write into a conflict.
    pub async fn mutate<T, F, Fut>(&self, call: F) -> Result<T, RpcError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.attempt(call, false).await
    }

    async fn attempt<T, F, Fut>(&self, mut call: F, retry_unavailable: bool) -> Result<T, RpcError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut unavailable = None;
        for address in self.addresses.entries() {
            let Some(channel) = self.connect(address).await else {
                continue;
            };
            match tokio::time::timeout(self.request_timeout, call(channel)).await {
                Err(_elapsed) => return Err(RpcError::Timeout),
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(status)) if status.code() == Code::Unavailable => {
                    let detail = match RpcError::from_status(&status) {
                        RpcError::Unavailable { detail, .. } => detail,
                        other => other.to_string(),
                    };
                    let err = RpcError::Unavailable {
                        address: address.clone(),
                        detail,
                    };
                    if !retry_unavailable {
                        return Err(err);
                    }
                    unavailable = Some(err);
                }
                Ok(Err(status)) => return Err(RpcError::from_status(&status)),
            }
        }
        Err(unavailable.unwrap_or_else(|| RpcError::Connect {
            addresses: self.addresses.to_string(),
        }))
    }

    /// A channel to the first address that connects, for calls that outlive the request
    /// timeout (streams a user watches until they stop it).
    pub async fn channel(&self) -> Result<Channel, RpcError> {
        for address in self.addresses.entries() {
            if let Some(channel) = self.connect(address).await {
                return Ok(channel);
            }
        }
        Err(RpcError::Connect {
            addresses: self.addresses.to_string(),
        })
    }

    /// A channel to one given address (benchmarks aim at chosen members).
    pub async fn channel_to(&self, address: &str) -> Result<Channel, RpcError> {
        self.connect(address)
            .await
            .ok_or_else(|| RpcError::Connect {
                addresses: address.to_owned(),
            })
    }

    /// Dials one address; `None` when it cannot be reached in time.
    async fn connect(&self, address: &str) -> Option<Channel> {
        let endpoint = Endpoint::from_shared(AddressList::uri(address))
            .ok()?
            .connect_timeout(self.connect_timeout);
        match tokio::time::timeout(self.connect_timeout, endpoint.connect()).await {
            Ok(Ok(channel)) => Some(channel),
            Ok(Err(e)) => {
                tracing::debug!(%address, error = %e, "dial failed");
                None
            }
            Err(_) => {
                tracing::debug!(%address, "dial timed out");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro_proto::cluster::cluster_client::ClusterClient;
    use micro_proto::cluster::cluster_server::{Cluster, ClusterServer};
    use micro_proto::cluster::{MembersRequest, MembersResponse};
    use tokio_stream::wrappers::TcpListenerStream;

    /// Answers Members with leader = 7 and echoes the namespace header as the term's length,
    /// or answers `Unavailable` when `unavailable` is set.
    struct Fake {
        unavailable: bool,
    }

    #[tonic::async_trait]
    impl Cluster for Fake {
        async fn members(
            &self,
            request: tonic::Request<MembersRequest>,
        ) -> Result<tonic::Response<MembersResponse>, Status> {
            if self.unavailable {
                return Err(Status::unavailable("no leader"));
            }
            let ns = request
                .metadata()
                .get(NAMESPACE_HEADER)
                .map(|v| v.len())
                .unwrap_or(0);
            Ok(tonic::Response::new(MembersResponse {
                leader: 7,
                term: ns as u64,
                members: vec![],
            }))
        }

        async fn remove(
            &self,
            _: tonic::Request<micro_proto::cluster::RemoveRequest>,
        ) -> Result<tonic::Response<micro_proto::cluster::RemoveResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        async fn promote(
            &self,
            _: tonic::Request<micro_proto::cluster::PromoteRequest>,
        ) -> Result<tonic::Response<micro_proto::cluster::PromoteResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        async fn transfer_leader(
            &self,
            _: tonic::Request<micro_proto::cluster::TransferLeaderRequest>,
        ) -> Result<tonic::Response<micro_proto::cluster::TransferLeaderResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        type SnapshotStream =
            futures::stream::Empty<Result<micro_proto::cluster::SnapshotChunk, Status>>;

        async fn snapshot(
            &self,
            _: tonic::Request<micro_proto::cluster::SnapshotRequest>,
        ) -> Result<tonic::Response<Self::SnapshotStream>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }
    }

    async fn serve(unavailable: bool) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(ClusterServer::new(Fake { unavailable }))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        (addr, handle)
    }

    async fn dead_address() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().to_string()
        // Dropped here: nothing listens on it any more.
    }

    async fn members(client: &Client) -> Result<MembersResponse, RpcError> {
        client
            .call(|ch| {
                let req = client.request(MembersRequest {});
                async move {
                    ClusterClient::new(ch)
                        .members(req)
                        .await
                        .map(|r| r.into_inner())
                }
            })
            .await
    }

    #[tokio::test]
    async fn fails_over_past_dead_and_unavailable_nodes() {
        let dead = dead_address().await;
        let (busy, h1) = serve(true).await;
        let (good, h2) = serve(false).await;
        let list = AddressList::parse(&format!("{dead},{busy},{good}")).unwrap();
        let client = Client::new(list, "micro").unwrap();
        let resp = members(&client).await.unwrap();
        assert_eq!(resp.leader, 7);
        assert_eq!(resp.term, "micro".len() as u64, "namespace header missing");
        h1.abort();
        h2.abort();
    }

    #[tokio::test]
    async fn all_dead_is_a_connect_error_naming_every_address() {
        let a = dead_address().await;
        let b = dead_address().await;
        let client = Client::new(AddressList::parse(&format!("{a},{b}")).unwrap(), "m").unwrap();
        let err = members(&client).await.unwrap_err();
        assert_eq!(
            err,
            RpcError::Connect {
                addresses: format!("{a},{b}")
            }
        );
        assert!(err
            .to_string()
            .starts_with("Failed to connect to micro server at "));
    }

    #[tokio::test]
    async fn only_unavailable_reports_the_servers_detail() {
        let (busy, h) = serve(true).await;
        let client = Client::new(AddressList::parse(&busy).unwrap(), "m").unwrap();
        let err = members(&client).await.unwrap_err();
        assert_eq!(
            err,
            RpcError::Unavailable {
                address: busy,
                detail: "no leader".into()
            }
        );
        h.abort();
    }

    #[tokio::test]
    async fn a_mutation_skips_dead_nodes_but_not_an_unavailable_answer() {
        let dead = dead_address().await;
        let (busy, h1) = serve(true).await;
        let (good, h2) = serve(false).await;
        let list = AddressList::parse(&format!("{dead},{busy},{good}")).unwrap();
        let client = Client::new(list, "micro").unwrap();
        let err = client
            .mutate(|ch| {
                let req = client.request(MembersRequest {});
                async move {
                    ClusterClient::new(ch)
                        .members(req)
                        .await
                        .map(|r| r.into_inner())
                }
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, RpcError::Unavailable { ref address, .. } if *address == busy),
            "{err:?}"
        );
        h1.abort();
        h2.abort();
    }

    #[test]
    fn requests_carry_the_bearer_token_once_attached() {
        let list = AddressList::parse("a:1").unwrap();
        let anonymous = Client::new(list, "micro").unwrap();
        assert!(anonymous
            .request(())
            .metadata()
            .get(AUTHORIZATION_HEADER)
            .is_none());
        let client = anonymous.with_token("abc.def.ghi").unwrap();
        let request = client.request(());
        assert_eq!(
            request.metadata().get(AUTHORIZATION_HEADER).unwrap(),
            "Bearer abc.def.ghi"
        );
        assert_eq!(request.metadata().get(NAMESPACE_HEADER).unwrap(), "micro");
        assert!(!format!("{client:?}").contains("abc.def"), "token in Debug");
        let list = AddressList::parse("a:1").unwrap();
        assert!(Client::new(list.clone(), "m")
            .unwrap()
            .with_token("bad\ntoken")
            .is_err());
        assert!(Client::new(list, "m").unwrap().with_token("").is_err());
    }

    #[test]
    fn bad_namespace_is_refused() {
        let list = AddressList::parse("a:1").unwrap();
        assert!(Client::new(list.clone(), "").is_err());
        assert!(Client::new(list, "bad\nns").is_err());
    }
}
