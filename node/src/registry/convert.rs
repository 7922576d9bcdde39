//! Conversions between the registry's wire types and its replicated model.

use micro_proto::registry as pb;
use micro_state_machine::registry::{
    Definition, Endpoint, Instance, RegistryError, Service, Value, WatchEvent,
};

use crate::error::ApiError;

/// Maps a registry refusal to the API error a client sees.
pub fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::NotFound => ApiError::NotFound(e.to_string()),
        RegistryError::NodeConflict { .. } | RegistryError::Compacted { .. } => {
            ApiError::Conflict(e.to_string())
        }
        RegistryError::InvalidArgument(m) => ApiError::BadRequest(m),
        RegistryError::Storage(m) => ApiError::Internal(m),
    }
}

fn value_from(v: pb::Value) -> Value {
    Value {
        name: v.name,
        kind: v.r#type,
        values: v.values.into_iter().map(value_from).collect(),
    }
}

fn value_to(v: Value) -> pb::Value {
    pb::Value {
        name: v.name,
        r#type: v.kind,
        values: v.values.into_iter().map(value_to).collect(),
    }
}

/// The definition part of a registration.
pub fn definition_from(s: &pb::Service) -> Definition {
    Definition {
        metadata: s.metadata.clone().into_iter().collect(),
        endpoints: s
            .endpoints
            .iter()
            .cloned()
            .map(|e| Endpoint {
                name: e.name,
                request: e.request.map(value_from),
                response: e.response.map(value_from),
                metadata: e.metadata.into_iter().collect(),
            })
            .collect(),
    }
}

/// The instances of a registration.
pub fn instances_from(s: &pb::Service) -> Vec<Instance> {
    s.nodes
        .iter()
        .cloned()
        .map(|n| Instance {
            id: n.id,
            address: n.address,
            port: n.port,
            metadata: n.metadata.into_iter().collect(),
        })
        .collect()
}

/// A service version as the wire shows it.
pub fn service_to(s: Service) -> pb::Service {
    pb::Service {
        name: s.name,
        version: s.version,
        metadata: s.definition.metadata.into_iter().collect(),
        endpoints: s
            .definition
            .endpoints
            .into_iter()
            .map(|e| pb::Endpoint {
                name: e.name,
                request: e.request.map(value_to),
                response: e.response.map(value_to),
                metadata: e.metadata.into_iter().collect(),
            })
            .collect(),
        nodes: s
            .nodes
            .into_iter()
            .map(|n| pb::Node {
                id: n.id,
                address: n.address,
                port: n.port,
                metadata: n.metadata.into_iter().collect(),
            })
            .collect(),
        options: None,
    }
}

/// A change as a watcher sees it.
pub fn result_to(e: WatchEvent) -> pb::Result {
    pb::Result {
        action: e.action.as_str().to_owned(),
        timestamp: (e.time_ms / 1000) as i64,
        service: Some(service_to(e.service)),
        revision: e.revision,
    }
}
