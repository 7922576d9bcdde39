//! The wire contract of micro: generated tonic/prost types with Micro-compatible JSON.
//!
//! Layout: one `pub mod` per protobuf package. `store`, `config`, `auth`, `registry`, `broker`
//! and `events` are Micro v3's packages (unchanged numbers, our extensions at >= 100); `cluster`
//! is micro's own admin API. JSON impls come from pbjson with original (snake_case) names and
//! default values emitted, as Micro's jsonpb does: 64-bit integers are strings and bytes are
//! base64.
//!
//! Must not depend on any internal crate: clients (`cli`, `jepsen`) need this crate alone.

/// Micro v3's `store` package.
pub mod store {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("store");
    include!(concat!(env!("OUT_DIR"), "/store.serde.rs"));
}

/// Micro v3's `config` package.
pub mod config {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("config");
    include!(concat!(env!("OUT_DIR"), "/config.serde.rs"));
}

/// Micro v3's `auth` package.
pub mod auth {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("auth");
    include!(concat!(env!("OUT_DIR"), "/auth.serde.rs"));
}

/// Micro v3's `registry` package.
pub mod registry {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("registry");
    include!(concat!(env!("OUT_DIR"), "/registry.serde.rs"));
}

/// Micro v3's `events` package.
pub mod events {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("events");
    include!(concat!(env!("OUT_DIR"), "/events.serde.rs"));
}

/// micro's cluster administration API.
pub mod cluster {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("cluster");
    include!(concat!(env!("OUT_DIR"), "/cluster.serde.rs"));
}

/// Micro v3's `broker` package.
pub mod broker {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("broker");
    include!(concat!(env!("OUT_DIR"), "/broker.serde.rs"));
}

/// The protobuf descriptors of every package above (a `FileDescriptorSet`), from which the
/// node derives the request and response schemas it registers for its endpoints.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

#[cfg(test)]
mod tests {
    use super::store::{ReadRequest, Record};

    #[test]
    fn json_uses_micro_conventions() {
        let r = Record {
            key: "k".into(),
            value: b"hi".to_vec(),
            expiry: 5,
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["value"], "aGk=");
        assert_eq!(v["expiry"], "5");
        assert_eq!(v["metadata"], serde_json::json!({}));
        let req: ReadRequest =
            serde_json::from_str(r#"{"key":"a","options":{"prefix":true,"limit":"3"}}"#).unwrap();
        assert_eq!(req.options.unwrap().limit, 3);
    }
}
