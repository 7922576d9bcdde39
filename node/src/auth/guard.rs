//! Who is calling and may they: every request on both edges passes [`Guard::admit`], which
//! verifies the bearer token and checks the namespace's rules for `service:<svc>:<endpoint>`
//! (401 without an account, 403 with one). Handlers then apply Micro's `Authorize` and
//! `AuthorizeAdmin` to the namespace they act on, through the [`Caller`] they are handed.
//!
//! Rules are read from the node's applied state, not behind a read barrier: enforcement must
//! not cost a quorum round trip per request, and a node lags the leader by milliseconds.

use std::sync::Arc;

use base64::Engine;
use micro_raft::Cluster;
use micro_state_machine::auth::{self, Principal, Resource, DEFAULT_NAMESPACE, SERVICE};

use super::tokens::{Claims, TokenError, Tokens};
use crate::error::ApiError;

/// The caller of one request: the namespace it addresses and its verified account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The request's namespace (`Micro-Namespace`, else `micro`).
    pub namespace: String,
    /// The account of a valid bearer token, if one was presented.
    pub account: Option<Claims>,
}

impl Caller {
    /// An anonymous caller addressing `namespace` (tests and internal calls).
    pub fn anonymous(namespace: &str) -> Caller {
        Caller {
            namespace: namespace.to_owned(),
            account: None,
        }
    }

    /// Micro's `Authorize(ns)`: any account issued by `ns`, or an admin of `micro`.
    pub fn authorize(&self, ns: &str) -> Result<&Claims, ApiError> {
        let Some(account) = &self.account else {
            return Err(ApiError::Unauthorized("an account is required".into()));
        };
        if account.iss == DEFAULT_NAMESPACE && account.is_admin() {
            return Ok(account);
        }
        if account.iss != ns || !(account.kind == auth::USER || account.kind == SERVICE) {
            return Err(ApiError::Forbidden("access denied to namespace".into()));
        }
        Ok(account)
    }

    /// Micro's `AuthorizeAdmin(ns)`: [`Caller::authorize`] and an admin account.
    pub fn authorize_admin(&self, ns: &str) -> Result<&Claims, ApiError> {
        let account = self.authorize(ns)?;
        if !account.is_admin() {
            return Err(ApiError::Forbidden(format!(
                "admin access to namespace {ns} is required"
            )));
        }
        Ok(account)
    }
}

/// Admits requests on behalf of one node.
pub struct Guard {
    cluster: Arc<Cluster>,
    tokens: Arc<Tokens>,
}

impl Guard {
    /// A guard reading rules from `cluster`'s state and verifying with `tokens`.
    pub fn new(cluster: Arc<Cluster>, tokens: Arc<Tokens>) -> Self {
        Guard { cluster, tokens }
    }

    /// Authenticates the `authorization` header and checks the rules of the request's
    /// namespace for calling `endpoint` on `service`.
    pub async fn admit(
        &self,
        service: &str,
        endpoint: &str,
        namespace: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Caller, ApiError> {
        let namespace = crate::namespace::resolve(namespace);
        let account = match authorization.map(str::trim).filter(|h| !h.is_empty()) {
            None => None,
            Some(header) => Some(self.authenticate(header).await?),
        };
        // Every request reads the rules first, so a node whose storage broke (a full disk)
        // answers everything with 503 and what to do, not a 500.
        let rules = auth::rules(self.cluster.reader(), &namespace).map_err(|e| {
            ApiError::from(micro_raft::ClusterError::storage_failed(format!(
                "reading the rules: {e}"
            )))
        })?;
        let principal = account.as_ref().map(|a| Principal {
            issuer: &a.iss,
            scopes: &a.scopes,
        });
        if auth::allows(
            &rules,
            principal,
            &Resource::service(service, endpoint),
            &namespace,
        ) {
            return Ok(Caller { namespace, account });
        }
        Err(match &account {
            None => {
                ApiError::Unauthorized(format!("Unauthorized call made to {service}:{endpoint}"))
            }
            Some(a) => ApiError::Forbidden(format!(
                "Forbidden call made to {service}:{endpoint} by {}",
                a.sub
            )),
        })
    }

    /// Verifies `Bearer <jwt>` or Micro's `Basic base64(user:token)`.
    async fn authenticate(&self, header: &str) -> Result<Claims, ApiError> {
        let token = bearer_token(header)?;
        let verified = self.tokens.verify_caught_up(&token).await?;
        verified.map_err(|e| match e {
            TokenError::Invalid(m) => ApiError::Unauthorized(m),
            TokenError::NoKey => ApiError::Unauthorized(e.to_string()),
            TokenError::Unavailable(m) => ApiError::Internal(m),
        })
    }
}

/// The token inside an `Authorization` header.
fn bearer_token(header: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::Unauthorized(
            "invalid authorization header: expected 'Bearer <token>' or 'Basic <base64 of user:token>'"
                .into(),
        )
    };
    let (scheme, rest) = header.split_once(' ').ok_or_else(bad)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Ok(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (_, token) = text.split_once(':').ok_or_else(bad)?;
        if !token.is_empty() {
            return Ok(token.to_owned());
        }
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iss: &str, kind: &str, scopes: &[&str]) -> Claims {
        Claims {
            sub: "id".into(),
            iss: iss.into(),
            exp: 0,
            iat: 0,
            kind: kind.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            metadata: Default::default(),
            name: "id".into(),
        }
    }

    fn caller(account: Option<Claims>) -> Caller {
        Caller {
            namespace: "micro".into(),
            account,
        }
    }

    #[test]
    fn authorize_follows_micro() {
        let anon = caller(None);
        assert!(matches!(
            anon.authorize("micro"),
            Err(ApiError::Unauthorized(_))
        ));
        let micro_admin = caller(Some(claims("micro", "user", &["admin"])));
        assert!(micro_admin.authorize_admin("foo").is_ok());
        let foo_user = caller(Some(claims("foo", "user", &[])));
        assert!(foo_user.authorize("foo").is_ok());
        assert!(matches!(
            foo_user.authorize("bar"),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            foo_user.authorize_admin("foo"),
            Err(ApiError::Forbidden(_))
        ));
        let foo_service = caller(Some(claims("foo", "service", &["service"])));
        assert!(foo_service.authorize_admin("foo").is_ok());
        assert!(foo_service.authorize_admin("micro").is_err());
        let odd = caller(Some(claims("foo", "robot", &["admin"])));
        assert!(odd.authorize("foo").is_err());
    }

    #[test]
    fn authorization_headers() {
        assert_eq!(bearer_token("Bearer abc").unwrap(), "abc");
        assert_eq!(bearer_token("bearer  abc ").unwrap(), "abc");
        let basic = base64::engine::general_purpose::STANDARD.encode("user:tok");
        assert_eq!(bearer_token(&format!("Basic {basic}")).unwrap(), "tok");
        for bad in ["abc", "Bearer ", "Digest x", "Basic !!!", "Basic dXNlcg=="] {
            assert!(bearer_token(bad).is_err(), "{bad}");
        }
    }
}
