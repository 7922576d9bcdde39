//! Micro's namespace convention: the `Micro-Namespace` header, else `micro`.

/// The namespace used when a request names none.
pub const DEFAULT_NAMESPACE: &str = "micro";

/// Returns the namespace of a request from its optional header value.
pub fn resolve(header: Option<&str>) -> String {
    header
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned()
}

/// The namespace carried in gRPC metadata.
pub fn from_metadata(md: &tonic::metadata::MetadataMap) -> String {
    resolve(md.get("micro-namespace").and_then(|v| v.to_str().ok()))
}

/// Runs a unary gRPC handler with the request's namespace, mapping its error to a status: the
/// shape every tonic method of every service shares.
pub async fn with_namespace<Req, Resp, F, Fut>(
    req: tonic::Request<Req>,
    handler: F,
) -> Result<tonic::Response<Resp>, tonic::Status>
where
    F: FnOnce(String, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, crate::ApiError>>,
{
    let ns = from_metadata(req.metadata());
    Ok(tonic::Response::new(handler(ns, req.into_inner()).await?))
}
