//! [`RegistryService`]: registrations through raft, reads behind the read barrier, watches
//! that replay the replicated change history and then follow what this node applies.

use std::sync::Arc;

use micro_proto::registry as pb;
use micro_raft::Cluster;
use micro_state_machine::context::applied_time_ms;
use micro_state_machine::registry::{
    self, Registration, RegistryCommand, RegistryResponse, DEFAULT_TTL_MS,
};
use micro_state_machine::{Command, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Status};

use super::convert::{definition_from, instances_from, registry_error, result_to, service_to};
use crate::auth::Caller;
use crate::batcher::{Batch, Batcher};
use crate::error::ApiError;

/// The namespace a registry request addresses when it names none (Micro's default domain).
pub const DEFAULT_DOMAIN: &str = "micro";
/// Changes read from the history per step of a watch.
const WATCH_BATCH: usize = 256;
/// Results a watch buffers for a slow reader before it waits for it.
const WATCH_BUFFER: usize = 64;

/// The registry service of one node.
#[derive(Clone)]
pub struct RegistryService {
    cluster: Arc<Cluster>,
    /// Concurrent registrations (mostly heartbeats) leave this node as one entry.
    registrations: Batcher<Registrations>,
}

/// Registrations, batched into one `RegisterBatch` command.
struct Registrations;

impl Batch for Registrations {
    type Item = Registration;
    type Outcome = RegistryResponse;
    const SIZE_METRIC: &'static str = "micro_registry_register_batch_size";
    const IN_FLIGHT: usize = 1;

    fn size(r: &Registration) -> usize {
        bincode::serialized_size(r).map_or(0, |n| n as usize)
    }

    fn command(registrations: Vec<Registration>) -> Command {
        Command::Registry(RegistryCommand::RegisterBatch { registrations })
    }

    fn outcomes(response: Response) -> Result<Vec<Result<RegistryResponse, ApiError>>, ApiError> {
        match response {
            Response::Registry(RegistryResponse::Batch { results }) => Ok(results
                .into_iter()
                .map(|r| match r {
                    RegistryResponse::Err(e) => Err(registry_error(e)),
                    r => Ok(r),
                })
                .collect()),
            other => Err(ApiError::Internal(format!(
                "a registration batch produced {other:?}"
            ))),
        }
    }
}

fn domain_of(options: Option<&pb::Options>) -> String {
    match options.map(|o| o.domain.as_str()) {
        Some(d) if !d.is_empty() => d.to_owned(),
        _ => DEFAULT_DOMAIN.to_owned(),
    }
}

/// Micro's registry reads: the default domain is public, others need an account of theirs.
fn authorize_read(caller: &Caller, domain: &str) -> Result<(), ApiError> {
    if domain != DEFAULT_DOMAIN {
        caller.authorize(domain)?;
    }
    Ok(())
}

impl RegistryService {
    /// A service answering through `cluster`; its registration batcher runs on `tracker`
    /// until `stop`.
    pub fn new(cluster: Arc<Cluster>, tracker: &TaskTracker, stop: CancellationToken) -> Self {
        RegistryService {
            registrations: Batcher::start(cluster.clone(), tracker, stop),
            cluster,
        }
    }

    async fn propose(&self, cmd: RegistryCommand) -> Result<RegistryResponse, ApiError> {
        match self.cluster.write(Command::Registry(cmd)).await? {
            Response::Registry(RegistryResponse::Err(e)) => Err(registry_error(e)),
            Response::Registry(r) => Ok(r),
            other => Err(ApiError::Internal(format!(
                "a registry command produced {other:?}"
            ))),
        }
    }

    /// Registers (or renews) `svc` in `domain`. A renewal whose definition this replica already
    /// holds carries only the instances, so heartbeats stay small in the log.
    pub async fn register_in(&self, domain: String, svc: pb::Service) -> Result<(), ApiError> {
        let ttl_s = svc.options.as_ref().map_or(0, |o| o.ttl);
        let ttl_ms = match ttl_s {
            0 => DEFAULT_TTL_MS,
            s if s < 0 => {
                return Err(ApiError::BadRequest("ttl must not be negative".into()));
            }
            s => (s as u64).saturating_mul(1000),
        };
        let definition = definition_from(&svc);
        let known = registry::definition(self.cluster.reader(), &domain, &svc.name, &svc.version)
            .map_err(registry_error)?;
        let registration = |definition| Registration {
            domain: domain.clone(),
            name: svc.name.clone(),
            version: svc.version.clone(),
            definition,
            nodes: instances_from(&svc),
            ttl_ms,
        };
        if known.as_ref() == Some(&definition) {
            let renewal = self.registrations.submit(registration(None)).await?;
            if renewal != RegistryResponse::NeedDefinition {
                return Ok(());
            }
            // This replica was behind: the version expired or was never stored.
        }
        match self
            .registrations
            .submit(registration(Some(definition)))
            .await?
        {
            RegistryResponse::NeedDefinition => Err(ApiError::Internal(
                "a registration with its definition was refused".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Registry.Register.
    pub async fn register(
        &self,
        caller: &Caller,
        svc: pb::Service,
    ) -> Result<pb::EmptyResponse, ApiError> {
        let domain = domain_of(svc.options.as_ref());
        caller.authorize_admin(&domain)?;
        self.register_in(domain, svc).await?;
        Ok(pb::EmptyResponse {})
    }

    /// Removes the listed instances of `svc` from `domain` (all of its version without any).
    pub async fn deregister_in(&self, domain: String, svc: pb::Service) -> Result<(), ApiError> {
        self.propose(RegistryCommand::Deregister {
            domain,
            name: svc.name,
            version: svc.version,
            node_ids: svc.nodes.into_iter().map(|n| n.id).collect(),
        })
        .await?;
        Ok(())
    }

    /// Registry.Deregister.
    pub async fn deregister(
        &self,
        caller: &Caller,
        svc: pb::Service,
    ) -> Result<pb::EmptyResponse, ApiError> {
        let domain = domain_of(svc.options.as_ref());
        caller.authorize_admin(&domain)?;
        self.deregister_in(domain, svc).await?;
        Ok(pb::EmptyResponse {})
    }

    /// Passes the read barrier and returns "now" for lease checks: the later of the leader's
    /// cluster time at the read point and the last applied entry's time.
    async fn read_now(&self) -> Result<u64, ApiError> {
        let point = self.cluster.read_barrier().await?;
        let applied = applied_time_ms(self.cluster.reader())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(point.time_ms.max(applied))
    }

    /// Registry.GetService: every live version of the service.
    pub async fn get_service(
        &self,
        caller: &Caller,
        req: pb::GetRequest,
    ) -> Result<pb::GetResponse, ApiError> {
        let domain = domain_of(req.options.as_ref());
        authorize_read(caller, &domain)?;
        let now = self.read_now().await?;
        let services = registry::get_service(self.cluster.reader(), &domain, &req.service, now)
            .map_err(registry_error)?;
        Ok(pb::GetResponse {
            services: services.into_iter().map(service_to).collect(),
        })
    }

    /// Registry.ListServices: every live service version of the domain.
    pub async fn list_services(
        &self,
        caller: &Caller,
        req: pb::ListRequest,
    ) -> Result<pb::ListResponse, ApiError> {
        let domain = domain_of(req.options.as_ref());
        authorize_read(caller, &domain)?;
        let now = self.read_now().await?;
        let services =
            registry::list_services(self.cluster.reader(), &domain, now).map_err(registry_error)?;
        Ok(pb::ListResponse {
            services: services.into_iter().map(service_to).collect(),
        })
    }

    /// Registry.Watch: the domain's changes (of one service if named) after `revision`, or
    /// from now on without one, then each change as this node applies it. Runs until the
    /// caller goes away; a revision the history no longer holds fails with the oldest held.
    pub async fn watch(
        &self,
        caller: &Caller,
        req: pb::WatchRequest,
    ) -> Result<mpsc::Receiver<Result<pb::Result, Status>>, ApiError> {
        let domain = domain_of(req.options.as_ref());
        authorize_read(caller, &domain)?;
        self.cluster.read_barrier().await?;
        let reader = self.cluster.reader().clone();
        let mut after = match req.revision {
            0 => registry::history(&reader).map_err(registry_error)?.next - 1,
            r => r,
        };
        // Fail now, not inside the stream, when the resume point is gone already.
        registry::watch_events(&reader, after, 0).map_err(registry_error)?;
        let mut applied = self.cluster.applied();
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(async move {
            loop {
                let batch = match registry::watch_events(&reader, after, WATCH_BATCH) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(registry_error(e)))).await;
                        return;
                    }
                };
                let caught_up = batch.len() < WATCH_BATCH;
                for event in batch {
                    after = event.revision;
                    let wanted = event.domain == domain
                        && (req.service.is_empty() || event.service.name == req.service);
                    if wanted && tx.send(Ok(result_to(event))).await.is_err() {
                        return;
                    }
                }
                if caught_up {
                    tokio::select! {
                        _ = tx.closed() => return,
                        next = applied.next() => if next.is_err() { return },
                    }
                }
            }
        });
        Ok(rx)
    }
}

crate::handlers::grpc_service!(pb::registry_server::Registry, RegistryService {
    get_service => get_service(pb::GetRequest) -> pb::GetResponse;
    register => register(pb::Service) -> pb::EmptyResponse;
    deregister => deregister(pb::Service) -> pb::EmptyResponse;
    list_services => list_services(pb::ListRequest) -> pb::ListResponse;
}
    type WatchStream = ReceiverStream<Result<pb::Result, Status>>;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let rx = RegistryService::watch(self, &caller, req.into_inner()).await?;
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
);

crate::handlers::json_service!(RegistryService {
    "Registry.GetService" => get_service,
    "Registry.Register" => register,
    "Registry.Deregister" => deregister,
    "Registry.ListServices" => list_services,
} streams {
    "Registry.Watch" => watch,
});
