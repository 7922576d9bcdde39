//! Generates the etcd v3 gRPC client (KV, Lease, Maintenance) from `proto/etcd/`. protoc
//! comes from `protoc-bin-vendored`, as for `micro-proto`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    println!("cargo:rerun-if-changed=proto/etcd");
    tonic_build::configure()
        .build_server(false)
        .compile_protos(&["proto/etcd/rpc.proto"], &["proto/etcd"])?;
    Ok(())
}
