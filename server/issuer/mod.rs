//! The fake OIDC issuer: discovery document, JWKS, GitHub's token-request protocol and
//! a mint-anything endpoint for tests. Mounted at `/issuer` by `serve`, or at `/` by
//! `mock-pypi issuer`. Each provider flavour has its own `iss`: `<base>/<provider>`.

pub mod github;
pub mod keys;

use std::sync::{Arc, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use self::github::GitHubIdentity;
use self::keys::{KeyRing, SigningKey};

/// GitHub's tokens live five minutes.
pub const DEFAULT_LIFETIME: i64 = 300;
const PROVIDERS: [&str; 1] = ["github"];

pub struct Issuer {
    base_url: String,
    request_token: String,
    keys: RwLock<KeyRing>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(
        "missing or wrong bearer token: send 'Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>'"
    )]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown provider '{0}' (this issuer serves: github)")]
    UnknownProvider(String),
    #[error("signing failed")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for IssuerError {
    fn into_response(self) -> Response {
        let status = match &self {
            IssuerError::Unauthorized => StatusCode::UNAUTHORIZED,
            IssuerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IssuerError::UnknownProvider(_) => StatusCode::NOT_FOUND,
            IssuerError::Internal(e) => {
                tracing::error!(error = %e, "issuer failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({"message": self.to_string()}))).into_response()
    }
}

impl Issuer {
    pub fn new(base_url: &str, request_token: String, key: SigningKey) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            request_token,
            keys: RwLock::new(KeyRing::new(key)),
        }
    }

    /// The exact `iss` of a provider flavour.
    pub fn issuer_url(&self, provider: &str) -> String {
        format!("{}/{provider}", self.base_url)
    }

    /// Where a GitHub job asks for a token (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    pub fn github_request_url(&self, identity: &GitHubIdentity) -> String {
        github::request_url(&self.base_url, identity)
    }

    pub fn request_token(&self) -> &str {
        &self.request_token
    }

    fn current_key(&self) -> Arc<SigningKey> {
        match self.keys.read() {
            Ok(ring) => ring.current(),
            Err(poisoned) => poisoned.into_inner().current(),
        }
    }

    fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        match self.keys.read() {
            Ok(ring) => ring.jwks(),
            Err(poisoned) => poisoned.into_inner().jwks(),
        }
    }

    /// Sign a claim set with the current key, off the reactor.
    pub async fn sign(&self, claims: Map<String, Value>) -> anyhow::Result<String> {
        let key = self.current_key();
        tokio::task::spawn_blocking(move || key.sign(&claims)).await?
    }

    /// A fresh GitHub-shaped token for `identity`.
    pub async fn github_token(
        &self,
        identity: &GitHubIdentity,
        audience: &str,
    ) -> anyhow::Result<String> {
        let now = crate::store::now();
        let claims = identity.claims(
            &self.issuer_url("github"),
            audience,
            now,
            DEFAULT_LIFETIME,
            &new_jti(),
        );
        self.sign(claims).await
    }

    fn check_bearer(&self, headers: &HeaderMap) -> Result<(), IssuerError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (scheme, token) = value.split_once(' ').unwrap_or(("", ""));
        // `id` sends "bearer", uv sends "Bearer": the scheme is case-insensitive (RFC 9110).
        if scheme.eq_ignore_ascii_case("bearer")
            && crate::util::constant_time_eq(token.trim(), &self.request_token)
        {
            Ok(())
        } else {
            Err(IssuerError::Unauthorized)
        }
    }
}

/// A random UUID-shaped token id.
pub fn new_jti() -> String {
    let h = crate::store::random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn router(issuer: Arc<Issuer>) -> Router {
    Router::new()
        .route(
            "/{provider}/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/{provider}/.well-known/jwks", get(jwks))
        .route("/github/token", get(github_token_request))
        .route("/mint", post(mint))
        .with_state(issuer)
}

fn known_provider(provider: &str) -> Result<(), IssuerError> {
    if PROVIDERS.contains(&provider) {
        Ok(())
    } else {
        Err(IssuerError::UnknownProvider(provider.to_owned()))
    }
}

async fn discovery(
    State(issuer): State<Arc<Issuer>>,
    Path(provider): Path<String>,
) -> Result<Response, IssuerError> {
    known_provider(&provider)?;
    let iss = issuer.issuer_url(&provider);
    Ok(Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks"),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
            "repository_id", "repository_owner", "repository_owner_id", "workflow", "workflow_ref",
            "job_workflow_ref", "environment", "event_name", "actor", "actor_id", "run_id"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }))
    .into_response())
}

async fn jwks(
    State(issuer): State<Arc<Issuer>>,
    Path(provider): Path<String>,
) -> Result<Response, IssuerError> {
    known_provider(&provider)?;
    Ok(Json(issuer.jwks()).into_response())
}

#[derive(Deserialize)]
struct TokenRequest {
    audience: Option<String>,
    #[serde(flatten)]
    identity: GitHubIdentity,
}

/// GitHub's runner protocol: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=X` with the
/// request token as bearer; answers `{"count": 1, "value": "<jwt>"}`.
async fn github_token_request(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    query: Result<Query<TokenRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, IssuerError> {
    issuer.check_bearer(&headers)?;
    let Query(request) = query.map_err(|e| {
        IssuerError::BadRequest(format!(
            "{e}: the request URL must carry repository=OWNER/REPO (see `mock-pypi env github`)"
        ))
    })?;
    if !request.identity.repository.contains('/') {
        return Err(IssuerError::BadRequest(
            "repository must be OWNER/REPO".into(),
        ));
    }
    // Real GitHub defaults the audience to the owner's URL when none is asked for.
    let audience = request
        .audience
        .unwrap_or_else(|| format!("https://github.com/{}", request.identity.owner()));
    let token = issuer.github_token(&request.identity, &audience).await?;
    Ok(Json(json!({"count": 1, "value": token})).into_response())
}

#[derive(Deserialize)]
struct MintRequest {
    #[serde(default = "default_provider")]
    provider: String,
    audience: String,
    identity: GitHubIdentity,
    /// Claims to set or replace after the identity's claims are built.
    #[serde(default)]
    claims: Map<String, Value>,
    /// Claims to delete.
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    lifetime: Option<i64>,
}

fn default_provider() -> String {
    "github".into()
}

/// Mint any token the tests need: identity, audience, lifetime and claim overrides.
async fn mint(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Result<Json<MintRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, IssuerError> {
    issuer.check_bearer(&headers)?;
    let Json(request) = body.map_err(|e| IssuerError::BadRequest(e.body_text()))?;
    known_provider(&request.provider)?;
    let now = crate::store::now();
    let lifetime = request.lifetime.unwrap_or(DEFAULT_LIFETIME);
    let mut claims = request.identity.claims(
        &issuer.issuer_url(&request.provider),
        &request.audience,
        now,
        lifetime,
        &new_jti(),
    );
    for (k, v) in request.claims {
        claims.insert(k, v);
    }
    for k in &request.remove {
        claims.remove(k);
    }
    let token = issuer.sign(claims.clone()).await?;
    Ok(Json(json!({"token": token, "claims": claims})).into_response())
}
