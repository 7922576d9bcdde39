//! [`ConfigService`]: validate → encrypt secrets → propose; reads behind the read barrier,
//! secrets masked unless asked for. The tonic impl and the HTTP dispatch share the methods.

use std::sync::Arc;

use micro_proto::config as pb;
use micro_raft::Cluster;
use micro_state_machine::config::{
    self, flatten_leaves, to_compact_json, ConfigCommand, ConfigError, ConfigResponse, ConfigValue,
};
use micro_state_machine::{Command, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use super::Keys;
use crate::auth::Caller;
use crate::error::ApiError;

/// Watch answers buffered for a slow reader before the watch waits for it.
const WATCH_BUFFER: usize = 16;

/// The config service of one node.
#[derive(Clone)]
pub struct ConfigService {
    cluster: Arc<Cluster>,
    keys: Keys,
}

fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::NotFound => ApiError::NotFound("Not found".into()),
        ConfigError::InvalidArgument(m) => ApiError::BadRequest(m),
        ConfigError::Storage(m) => ApiError::Internal(m),
    }
}

/// The request's namespace, else the caller's, once the caller is known to administer it
/// (Micro's config demands `AuthorizeAdmin` for every method).
fn pick_namespace(requested: &str, caller: &Caller) -> Result<String, ApiError> {
    let ns = if requested.trim().is_empty() {
        caller.namespace.clone()
    } else {
        requested.to_owned()
    };
    caller.authorize_admin(&ns)?;
    Ok(ns)
}

impl ConfigService {
    /// A service answering through `cluster`, sealing secrets with `keys`.
    pub fn new(cluster: Arc<Cluster>, keys: Keys) -> Self {
        ConfigService { cluster, keys }
    }

    async fn propose(&self, cmd: ConfigCommand) -> Result<u64, ApiError> {
        match self.cluster.write(Command::Config(cmd)).await? {
            Response::Config(ConfigResponse::Set { revision }) => Ok(revision),
            Response::Config(ConfigResponse::Deleted { revision, .. }) => Ok(revision),
            Response::Config(ConfigResponse::Err(e)) => Err(config_error(e)),
            other => Err(ApiError::Internal(format!(
                "a config command produced {other:?}"
            ))),
        }
    }

    /// Config.Get: the value at the path as compact JSON (`null` when absent).
    pub async fn get(
        &self,
        caller: &Caller,
        req: pb::GetRequest,
    ) -> Result<pb::GetResponse, ApiError> {
        let ns = pick_namespace(&req.namespace, caller)?;
        let reveal = req.options.is_some_and(|o| o.secret);
        self.cluster.read_barrier().await?;
        let view = config::get(self.cluster.reader(), &ns, &req.path).map_err(config_error)?;
        Ok(pb::GetResponse {
            value: Some(pb::Value {
                data: self.render(view.as_ref(), reveal)?,
                format: "json".into(),
            }),
        })
    }

    /// A value as compact JSON, secrets masked unless `reveal`.
    fn render(&self, view: Option<&config::ConfigView>, reveal: bool) -> Result<String, ApiError> {
        match (view, reveal) {
            (Some(v), true) => v.render_revealed(|secret| {
                let plain = self.keys.open(secret)?;
                serde_json::from_slice(&plain)
                    .map_err(|e| ApiError::Internal(format!("corrupt secret: {e}")))
            }),
            _ => Ok(config::render_masked(view)),
        }
    }

    /// The value at `path` of `ns` in this node's applied state, and the revision it was read
    /// at: the document's, or `applied` when the namespace has no document (so a deletion
    /// still moves the revision forward).
    fn current(
        &self,
        ns: &str,
        path: &str,
        reveal: bool,
        applied: u64,
    ) -> Result<(String, u64), ApiError> {
        let reader = self.cluster.reader();
        match config::revision(reader, ns) {
            Ok(revision) => {
                let view = config::get(reader, ns, path).map_err(config_error)?;
                Ok((self.render(view.as_ref(), reveal)?, revision))
            }
            Err(ConfigError::NotFound) => Ok(("null".into(), applied)),
            Err(e) => Err(config_error(e)),
        }
    }

    /// Config.Watch (extension): the value at the path now (or, when resuming from a
    /// revision, only if the namespace changed since), then each time it changes. Changes
    /// elsewhere in the namespace send nothing. Runs until the caller goes away.
    pub async fn watch(
        &self,
        caller: &Caller,
        req: pb::WatchRequest,
    ) -> Result<mpsc::Receiver<Result<pb::WatchResponse, Status>>, ApiError> {
        let ns = pick_namespace(&req.namespace, caller)?;
        config::split_path(&req.path).map_err(config_error)?;
        let reveal = req.options.is_some_and(|o| o.secret);
        self.cluster.read_barrier().await?;
        let mut applied = self.cluster.applied();
        let mut index = self.cluster.local_status().applied_index;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let svc = self.clone();
        let path = req.path;
        let (mut seen_revision, mut seen_data) = (req.revision, None::<String>);
        let mut send_current = req.revision == 0;
        tokio::spawn(async move {
            loop {
                let answer = match svc.current(&ns, &path, reveal, index) {
                    Ok((data, revision)) => {
                        let changed = send_current
                            || (revision > seen_revision && seen_data.as_ref() != Some(&data));
                        seen_revision = seen_revision.max(revision);
                        send_current = false;
                        if changed {
                            seen_data = Some(data.clone());
                            Some(Ok(pb::WatchResponse {
                                namespace: ns.clone(),
                                path: path.clone(),
                                value: Some(pb::Value {
                                    data,
                                    format: "json".into(),
                                }),
                                revision,
                            }))
                        } else {
                            None
                        }
                    }
                    Err(e) => Some(Err(Status::from(e))),
                };
                if let Some(answer) = answer {
                    let failed = answer.is_err();
                    if tx.send(answer).await.is_err() || failed {
                        return;
                    }
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    next = applied.next() => match next {
                        Ok(i) => index = i,
                        Err(_) => return,
                    },
                }
            }
        });
        Ok(rx)
    }

    /// Config.Set: objects merge, anything else replaces; `options.secret` encrypts first.
    pub async fn set(
        &self,
        caller: &Caller,
        req: pb::SetRequest,
    ) -> Result<pb::SetResponse, ApiError> {
        let ns = pick_namespace(&req.namespace, caller)?;
        let data = req.value.map(|v| v.data).unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_str(&data)
            .map_err(|e| ApiError::BadRequest(format!("Request is invalid JSON: {e}")))?;
        let value = if req.options.is_some_and(|o| o.secret) {
            let cipher = self.keys.active()?;
            match flatten_leaves(&parsed) {
                Some(leaves) => ConfigValue::SecretObject(
                    leaves
                        .into_iter()
                        .map(|(p, v)| (p, cipher.seal(to_compact_json(&v).as_bytes())))
                        .collect(),
                ),
                None => ConfigValue::Secret(cipher.seal(to_compact_json(&parsed).as_bytes())),
            }
        } else {
            ConfigValue::Json(data)
        };
        let revision = self
            .propose(ConfigCommand::Set {
                namespace: ns,
                path: req.path,
                value,
            })
            .await?;
        Ok(pb::SetResponse { revision })
    }

    /// Config.Delete: removes the subtree (an absent path is fine).
    pub async fn delete(
        &self,
        caller: &Caller,
        req: pb::DeleteRequest,
    ) -> Result<pb::DeleteResponse, ApiError> {
        let ns = pick_namespace(&req.namespace, caller)?;
        let revision = self
            .propose(ConfigCommand::Delete {
                namespace: ns,
                path: req.path,
            })
            .await?;
        Ok(pb::DeleteResponse { revision })
    }

    /// Config.RotateKey (extension, admins of `micro`): a new data key seals new secrets
    /// from now on; the leader reseals existing ones in the background.
    pub async fn rotate_key(
        &self,
        caller: &Caller,
        _req: pb::RotateKeyRequest,
    ) -> Result<pb::RotateKeyResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        Ok(pb::RotateKeyResponse {
            key_id: self.keys.rotate().await?,
        })
    }

    /// Config.Keys (extension, admins of `micro`): every key that seals secrets, which one
    /// is active, and how many secrets each seals.
    pub async fn list_keys(
        &self,
        caller: &Caller,
        _req: pb::KeysRequest,
    ) -> Result<pb::KeysResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        self.cluster.read_barrier().await?;
        let reader = self.cluster.reader();
        let ring = config::keyring(reader).map_err(|e| ApiError::Internal(e.to_string()))?;
        let usage = config::usage(reader).map_err(|e| ApiError::Internal(e.to_string()))?;
        let operator = self.keys.operator_id().to_owned();
        let mut ids: Vec<String> = ring.keys.keys().cloned().collect();
        if ring.active.is_none() || usage.contains_key(&operator) {
            ids.insert(0, operator.clone());
        }
        let active = ring.active.clone().unwrap_or_else(|| operator.clone());
        Ok(pb::KeysResponse {
            keys: ids
                .into_iter()
                .map(|id| pb::KeyInfo {
                    active: id == active,
                    secrets: usage.get(&id).copied().unwrap_or(0),
                    operator: id == operator,
                    id,
                })
                .collect(),
        })
    }

    /// Config.Read (legacy): the masked value as a change set.
    pub async fn read(
        &self,
        caller: &Caller,
        req: pb::ReadRequest,
    ) -> Result<pb::ReadResponse, ApiError> {
        let ns = pick_namespace(&req.namespace, caller)?;
        let got = self
            .get(
                caller,
                pb::GetRequest {
                    namespace: ns.clone(),
                    path: req.path.clone(),
                    options: None,
                },
            )
            .await?;
        let data = got.value.map(|v| v.data).unwrap_or_default();
        let change_set = pb::ChangeSet {
            data,
            format: "json".into(),
            ..Default::default()
        };
        Ok(pb::ReadResponse {
            change: Some(pb::Change {
                namespace: ns,
                path: req.path,
                change_set: Some(change_set),
            }),
        })
    }
}

crate::handlers::grpc_service!(pb::config_server::Config, ConfigService {
    get => get(pb::GetRequest) -> pb::GetResponse;
    set => set(pb::SetRequest) -> pb::SetResponse;
    delete => delete(pb::DeleteRequest) -> pb::DeleteResponse;
    read => read(pb::ReadRequest) -> pb::ReadResponse;
    rotate_key => rotate_key(pb::RotateKeyRequest) -> pb::RotateKeyResponse;
    keys => list_keys(pb::KeysRequest) -> pb::KeysResponse;
}
    type WatchStream = ReceiverStream<Result<pb::WatchResponse, Status>>;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let rx = ConfigService::watch(self, &caller, req.into_inner()).await?;
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
);

crate::handlers::json_service!(ConfigService {
    "Config.Get" => get,
    "Config.Set" => set,
    "Config.Delete" => delete,
    "Config.Read" => read,
    "Config.RotateKey" => rotate_key,
    "Config.Keys" => list_keys,
});
