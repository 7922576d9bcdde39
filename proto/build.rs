//! Generates tonic/prost types and pbjson serde impls for every `.proto` in `proto/`.
//!
//! protoc comes from `protoc-bin-vendored`, so nobody installs it by hand.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/store.proto",
    "proto/config.proto",
    "proto/cluster.proto",
    "proto/auth.proto",
    "proto/registry.proto",
    "proto/broker.proto",
    "proto/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = out.join("descriptors.bin");
    tonic_build::configure()
        .file_descriptor_set_path(&descriptors)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        // Sorted maps, so printed messages are stable.
        .btree_map([".broker"])
        .compile_protos(PROTOS, &["proto"])?;
    let set = std::fs::read(&descriptors)?;
    // Micro's JSON codec is jsonpb with OrigName + EmitDefaults: snake_case names, every field.
    pbjson_build::Builder::new()
        .register_descriptors(&set)?
        .preserve_proto_field_names()
        .emit_fields()
        .btree_map([".broker"])
        .build(&[
            ".store",
            ".config",
            ".cluster",
            ".auth",
            ".registry",
            ".broker",
            ".events",
        ])?;
    Ok(())
}
