//! Logging in from tests and the jepsen harness: a token from a node's gateway
//! (`POST /auth/token`), and a gRPC interceptor that sends it as `authorization: Bearer …`.

use std::time::Duration;

use anyhow::{bail, Context};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Micro's default admin account.
pub const ADMIN: (&str, &str) = ("admin", "micro");
/// Lifetime asked for test tokens: long enough for any test or jepsen run.
const TOKEN_SECS: i64 = 6 * 60 * 60;

/// Logs in to `namespace` as `id`/`secret` through the gateway at `api`; returns the access
/// token.
pub async fn login(api: &str, id: &str, secret: &str, namespace: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({
        "id": id,
        "secret": secret,
        "token_expiry": TOKEN_SECS.to_string(),
        "options": {"namespace": namespace},
    });
    let response = reqwest::Client::new()
        .post(format!("http://{api}/auth/token"))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("logging in at {api}"))?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("login as {id} at {api} failed ({status}): {answer}");
    }
    answer["token"]["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no access token in {answer}"))
}

/// Sends a bearer token with every request (or nothing, for anonymous calls).
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Bearer {
    /// Sends `token`.
    pub fn new(token: &str) -> anyhow::Result<Bearer> {
        let value = format!("Bearer {token}")
            .parse()
            .context("the token is not a valid header value")?;
        Ok(Bearer(Some(value)))
    }

    /// Sends no token.
    pub fn anonymous() -> Bearer {
        Bearer(None)
    }

    /// `channel` with this token on every request.
    pub fn on(&self, channel: Channel) -> Authed {
        InterceptedService::new(channel, self.clone())
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// A channel that carries a [`Bearer`] token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Dials `proxy` and wraps the channel with `bearer`.
pub async fn connect(proxy: &str, bearer: &Bearer) -> anyhow::Result<Authed> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{proxy}"))?
        .connect()
        .await
        .with_context(|| format!("dialling {proxy}"))?;
    Ok(bearer.on(channel))
}
