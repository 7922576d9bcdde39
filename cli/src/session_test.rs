use std::sync::{Arc, Mutex};

use micro_proto::auth::auth_server::{Auth, AuthServer};
use micro_proto::auth::{
    Account, GenerateRequest, GenerateResponse, InspectResponse, Token, TokenResponse,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use super::*;
use crate::client::RpcError;
use crate::jwt::tests::jwt;

/// What the fake auth service saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every TokenRequest, in order.
    token_requests: Vec<TokenRequest>,
}

/// Answers Token for refresh token `R` (or admin/micro credentials) with a fresh JWT for
/// `admin`, and Inspect with an account whose id is the `authorization` header it received.
#[derive(Clone, Default)]
struct FakeAuth {
    seen: Arc<Mutex<Seen>>,
}

#[tonic::async_trait]
impl Auth for FakeAuth {
    async fn generate(
        &self,
        _: Request<GenerateRequest>,
    ) -> Result<Response<GenerateResponse>, Status> {
        Err(Status::unimplemented(""))
    }

    async fn inspect(
        &self,
        request: Request<InspectRequest>,
    ) -> Result<Response<InspectResponse>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        Ok(Response::new(InspectResponse {
            account: Some(Account {
                id: header,
                ..Default::default()
            }),
        }))
    }

    async fn token(
        &self,
        request: Request<TokenRequest>,
    ) -> Result<Response<TokenResponse>, Status> {
        let req = request.into_inner();
        self.seen.lock().unwrap().token_requests.push(req.clone());
        let ok = req.refresh_token == "R" || (req.id == "admin" && req.secret == "micro");
        if !ok {
            return Err(Status::invalid_argument(
                r#"{"Id":"auth","Code":400,"Detail":"invalid token provided","Status":"Bad Request"}"#,
            ));
        }
        let now = now_secs();
        Ok(Response::new(TokenResponse {
            token: Some(Token {
                access_token: jwt(
                    &serde_json::json!({"sub": "admin", "iss": "micro", "exp": now + 600}),
                ),
                refresh_token: "R".into(),
                created: now,
                expiry: now + 600,
            }),
        }))
    }
}

/// A fake server, a config file whose current env `test` points at it, and a tokens file.
struct Fixture {
    dir: tempfile::TempDir,
    auth: FakeAuth,
    address: String,
    server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let auth = FakeAuth::default();
        let service = AuthServer::new(auth.clone());
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture {
            dir,
            auth,
            address,
            server,
        };
        let mut envs = Environments::open(&fixture.config()).unwrap();
        envs.add(Environment {
            name: "test".into(),
            proxy_address: fixture.address.clone(),
            description: String::new(),
        })
        .unwrap();
        envs.set_current("test").unwrap();
        fixture
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    fn session(&self) -> Session {
        Session::resolve_with_tokens(&self.config(), Some(self.tokens()), None, None).unwrap()
    }

    fn save(&self, namespace: &str, account: &str, token: SavedToken) {
        let mut file = TokenFile::load(&self.tokens()).unwrap();
        file.set(&tokens::key(&self.address, namespace, account), token);
        file.save().unwrap();
    }

    fn set_config(&self, path: &str, value: &str) {
        let mut config = LocalConfig::load(&self.config()).unwrap();
        config.set_path(path, Value::String(value.into()));
        config.save().unwrap();
    }

    /// The `authorization` header the server receives from `session.client()`.
    async fn bearer_sent(&self, session: &Session) -> String {
        let client = session.client().await.unwrap();
        let account = client
            .call(|ch| {
                let req = client.request(InspectRequest::default());
                async move { Ok(AuthClient::new(ch).inspect(req).await?.into_inner().account) }
            })
            .await
            .unwrap()
            .unwrap();
        account.id
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn token(access: &str, refresh: &str, expiry: i64) -> SavedToken {
    SavedToken {
        access_token: access.into(),
        refresh_token: refresh.into(),
        created: 1,
        expiry,
    }
}

#[test]
fn namespace_comes_from_flag_then_config_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let resolve = |ns: Option<&str>| Session::resolve_with_tokens(&config, None, None, ns).unwrap();
    assert_eq!(resolve(None).namespace(), "micro");
    assert_eq!(resolve(Some("")).namespace(), "micro");
    let mut cfg = LocalConfig::load(&config).unwrap();
    cfg.set_path("namespaces.local.current", Value::String("foo".into()));
    cfg.set_path("local.current-user", Value::String("jane".into()));
    cfg.save().unwrap();
    let session = resolve(None);
    assert_eq!(session.namespace(), "foo");
    assert_eq!(session.user, "jane");
    assert_eq!(resolve(Some("bar")).namespace(), "bar");
    // Another env has its own namespace.
    let other = Session::resolve_with_tokens(&config, None, Some("nope"), None);
    assert!(other.is_err(), "unknown env accepted");
}

#[tokio::test]
async fn no_token_means_no_authorization_header() {
    let f = Fixture::new().await;
    assert_eq!(f.bearer_sent(&f.session()).await, "none");
}

#[tokio::test]
async fn the_current_users_token_is_sent_as_bearer() {
    let f = Fixture::new().await;
    let far = now_secs() + 3600;
    f.save("micro", "jane", token("jane-token", "", far));
    f.save("micro", "admin", token("admin-token", "", far));
    f.save("other", "admin", token("other-ns", "", far));
    // Without a current user, any token of this server and namespace (Micro's fallback).
    assert_eq!(f.bearer_sent(&f.session()).await, "Bearer jane-token");
    f.set_config("test.current-user", "admin");
    assert_eq!(f.bearer_sent(&f.session()).await, "Bearer admin-token");
    f.set_config("namespaces.test.current", "other");
    assert_eq!(f.bearer_sent(&f.session()).await, "Bearer other-ns");
    assert!(
        f.auth.seen.lock().unwrap().token_requests.is_empty(),
        "refreshed a token that was not expiring"
    );
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_and_saved() {
    let f = Fixture::new().await;
    f.set_config("test.current-user", "admin");
    f.save("micro", "admin", token("old", "R", now_secs() + 30));
    let session = f.session();
    let sent = f.bearer_sent(&session).await;
    let saved = session.saved_token().unwrap().unwrap().1;
    assert_ne!(saved.access_token, "old");
    assert_eq!(sent, format!("Bearer {}", saved.access_token));
    assert!(saved.expiry > now_secs() + 500);
    let requests = &f.auth.seen.lock().unwrap().token_requests;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].refresh_token, "R");
    assert_eq!(requests[0].token_expiry, 600);
    assert_eq!(requests[0].options.as_ref().unwrap().namespace, "micro");
}

#[tokio::test]
async fn a_failed_refresh_sends_the_token_only_while_it_is_valid() {
    let f = Fixture::new().await;
    f.set_config("test.current-user", "admin");
    f.save("micro", "admin", token("soon", "revoked", now_secs() + 30));
    assert_eq!(f.bearer_sent(&f.session()).await, "Bearer soon");
    f.save(
        "micro",
        "admin",
        token("expired", "revoked", now_secs() - 1),
    );
    assert_eq!(f.bearer_sent(&f.session()).await, "none");
    // Nothing was saved over the old token.
    let saved = f.session().saved_token().unwrap().unwrap().1;
    assert_eq!(saved.access_token, "expired");
}

#[tokio::test]
async fn expiry_falls_back_to_the_jwt_claim() {
    let f = Fixture::new().await;
    let access = jwt(&serde_json::json!({"sub": "admin", "exp": now_secs() - 5}));
    f.save("micro", "admin", token(&access, "", 0));
    assert_eq!(f.bearer_sent(&f.session()).await, "none");
    // No expiry known at all: used as it is.
    f.save("micro", "admin", token("opaque", "", 0));
    assert_eq!(f.bearer_sent(&f.session()).await, "Bearer opaque");
}

#[tokio::test]
async fn sign_in_remember_and_forget() {
    let f = Fixture::new().await;
    f.set_config("namespaces.test.current", "foo");
    let session = f.session();
    let err = session.sign_in("admin", "wrong").await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<RpcError>(),
        Some(&RpcError::Rejected("invalid token provided".into()))
    );
    let token = session.sign_in("admin", "micro").await.unwrap();
    assert_eq!(
        f.auth.seen.lock().unwrap().token_requests[1]
            .options
            .as_ref()
            .unwrap()
            .namespace,
        "foo"
    );
    let who = session.identify(&token.access_token).await.unwrap();
    assert_eq!(
        who,
        Identity {
            id: "admin".into(),
            name: "admin".into()
        }
    );
    session.remember(&who.id, token.clone()).unwrap();

    let session = f.session();
    assert_eq!(session.user, "admin");
    let (key, saved) = session.saved_token().unwrap().unwrap();
    assert_eq!(key, format!("micro://{}/foo/admin", f.address));
    assert_eq!(saved, token);
    session.forget_current_user().unwrap();
    assert!(f.session().saved_token().unwrap().is_none());
}

#[tokio::test]
async fn identify_asks_the_server_when_the_token_is_opaque() {
    let f = Fixture::new().await;
    let who = f.session().identify("opaque").await.unwrap();
    // The fake names the account after the authorization header it received.
    assert_eq!(who.id, "Bearer opaque");
    assert_eq!(who.name, "Bearer opaque");
}

#[tokio::test]
async fn logout_forgets_the_token_in_use() {
    let f = Fixture::new().await;
    let far = now_secs() + 3600;
    f.save("micro", "jane", token("jane-token", "", far));
    f.set_config("test.current-user", "admin");
    let session = f.session();
    session.forget_current_user().unwrap();
    assert!(
        session.saved_token().unwrap().is_some(),
        "jane's token went"
    );
    session.forget_token_in_use().unwrap();
    assert!(session.saved_token().unwrap().is_none());
}
