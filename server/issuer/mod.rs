//! The fake OIDC issuer: discovery document and JWKS per provider flavour, GitHub's
//! token-request protocol, a mint-anything endpoint for tests, and failure on demand
//! (bad tokens, key rotation, a broken JWKS endpoint). Mounted at `/issuer` by `serve`,
//! or at `/` by `mock-pypi issuer`. Each provider's `iss` is `<base>/<provider>` unless
//! configured to be the real provider's string.

pub mod activestate;
pub mod faults;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod keys;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use self::activestate::ActiveStateIdentity;
use self::faults::Fault;
use self::github::GitHubIdentity;
use self::gitlab::GitLabIdentity;
use self::google::GoogleIdentity;
use self::keys::{KeyRing, KeyState, SigningKey};

/// GitHub's tokens live five minutes; so do the other flavours here.
pub const DEFAULT_LIFETIME: i64 = 300;
pub const PROVIDERS: [&str; 4] = ["github", "gitlab", "google", "activestate"];
/// A hanging JWKS request gives up after this long even if nobody heals it.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// How the JWKS endpoint behaves, for testing an index's key fetching.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JwksMode {
    #[default]
    Normal,
    /// 500 with a JSON error.
    Fail,
    /// Never answers (until the mode changes, or a minute passes).
    Hang,
    /// `{"keys": []}`.
    Empty,
    /// Not JSON.
    Garbage,
    /// A valid key set padded past any sane size (1 MiB).
    Oversized,
    /// A redirect to the real key set.
    Redirect,
}

pub struct Issuer {
    base_url: String,
    request_token: String,
    keys: RwLock<KeyRing>,
    /// Provider → the `iss` to sign with instead of `<base>/<provider>`.
    identities: HashMap<String, String>,
    unpublished: tokio::sync::OnceCell<Arc<SigningKey>>,
    last_jti: Mutex<Option<String>>,
    jwks_mode: tokio::sync::watch::Sender<JwksMode>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(
        "missing or wrong bearer token: send 'Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>'"
    )]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown provider '{0}' (this issuer serves: github, gitlab, google, activestate)")]
    UnknownProvider(String),
    #[error("the key set is unavailable (failure injected with /_control/jwks)")]
    Injected,
    #[error("signing failed")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for IssuerError {
    fn into_response(self) -> Response {
        let status = match &self {
            IssuerError::Unauthorized => StatusCode::UNAUTHORIZED,
            IssuerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IssuerError::UnknownProvider(_) => StatusCode::NOT_FOUND,
            IssuerError::Injected => StatusCode::INTERNAL_SERVER_ERROR,
            IssuerError::Internal(e) => {
                tracing::error!(error = %e, "issuer failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({"message": self.to_string()}))).into_response()
    }
}

/// Everything a token can be asked for.
#[derive(Debug, Deserialize)]
pub struct TokenSpec {
    #[serde(default = "default_provider")]
    pub provider: String,
    pub audience: String,
    /// Provider-shaped identity: GitHub `{repository, workflow, …}`, GitLab
    /// `{project_path, ci_file, …}`, Google `{email, sub}`, ActiveState
    /// `{organization, project, actor, actor_id}`.
    pub identity: Value,
    /// Claims to set or replace after the identity's claims are built.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Claims to delete.
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub lifetime: Option<i64>,
    /// One of [`faults::FAULT_NAMES`].
    #[serde(default)]
    pub fault: Option<String>,
}

fn default_provider() -> String {
    "github".into()
}

fn identity<T: serde::de::DeserializeOwned>(
    provider: &str,
    value: Value,
) -> Result<T, IssuerError> {
    serde_json::from_value(value)
        .map_err(|e| IssuerError::BadRequest(format!("a {provider} identity: {e}")))
}

impl Issuer {
    pub fn new(base_url: &str, request_token: String, key: SigningKey) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            request_token,
            keys: RwLock::new(KeyRing::new(key)),
            identities: HashMap::new(),
            unpublished: tokio::sync::OnceCell::new(),
            last_jti: Mutex::new(None),
            jwks_mode: tokio::sync::watch::Sender::new(JwksMode::Normal),
        }
    }

    /// Sign `provider`'s tokens with `iss` (e.g. the real provider's issuer string).
    pub fn with_identities(mut self, identities: HashMap<String, String>) -> Self {
        self.identities = identities;
        self
    }

    /// The exact `iss` of a provider flavour.
    pub fn issuer_url(&self, provider: &str) -> String {
        self.identities
            .get(provider)
            .cloned()
            .unwrap_or_else(|| format!("{}/{provider}", self.base_url))
    }

    /// Where the provider flavour's keys are published.
    pub fn jwks_url(&self, provider: &str) -> String {
        format!("{}/{provider}/.well-known/jwks", self.base_url)
    }

    /// Whether the provider signs with a configured `iss` (whose discovery document is
    /// elsewhere, so an index must be given [`Issuer::jwks_url`]).
    pub fn impersonates(&self, provider: &str) -> bool {
        self.identities.contains_key(provider)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Where a GitHub job asks for a token (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    pub fn github_request_url(&self, identity: &GitHubIdentity) -> String {
        github::request_url(&self.base_url, identity)
    }

    pub fn request_token(&self) -> &str {
        &self.request_token
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        match self.keys.read() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.ring().jwks(crate::store::now())
    }

    /// A new signing key; the old ones stay published for `overlap` seconds.
    pub async fn rotate(&self, overlap: i64) -> anyhow::Result<Vec<KeyState>> {
        let (key, _) = tokio::task::spawn_blocking(SigningKey::generate).await??;
        let now = crate::store::now();
        let mut ring = match self.keys.write() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        };
        ring.rotate(key, now, overlap);
        Ok(ring.state(now))
    }

    async fn unpublished_key(&self) -> anyhow::Result<Arc<SigningKey>> {
        self.unpublished
            .get_or_try_init(|| async {
                let (key, _) = tokio::task::spawn_blocking(SigningKey::generate).await??;
                anyhow::Ok(Arc::new(key))
            })
            .await
            .cloned()
    }

    /// Build, break if asked, and sign a token (signing runs off the reactor).
    pub async fn issue(
        &self,
        spec: TokenSpec,
    ) -> Result<(String, Map<String, Value>), IssuerError> {
        let provider = spec.provider.as_str();
        if !PROVIDERS.contains(&provider) {
            return Err(IssuerError::UnknownProvider(spec.provider.clone()));
        }
        let fault = spec
            .fault
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(str::parse::<Fault>)
            .transpose()
            .map_err(IssuerError::BadRequest)?;
        let now = crate::store::now();
        let lifetime = spec.lifetime.unwrap_or(DEFAULT_LIFETIME);
        let iss = self.issuer_url(provider);
        let jti = new_jti();
        let aud = spec.audience.as_str();
        let mut claims = match provider {
            "github" => {
                let id: GitHubIdentity = identity(provider, spec.identity)?;
                if !id.repository.contains('/') {
                    return Err(IssuerError::BadRequest(
                        "repository must be OWNER/REPO".into(),
                    ));
                }
                id.claims(&iss, aud, now, lifetime, &jti)
            }
            "gitlab" => {
                let id: GitLabIdentity = identity(provider, spec.identity)?;
                if !id.project_path.contains('/') {
                    return Err(IssuerError::BadRequest(
                        "project_path must be NAMESPACE/PROJECT".into(),
                    ));
                }
                id.claims(&iss, aud, now, lifetime, &jti)
            }
            "google" => identity::<GoogleIdentity>(provider, spec.identity)?
                .claims(&iss, aud, now, lifetime),
            _ => identity::<ActiveStateIdentity>(provider, spec.identity)?
                .claims(&iss, aud, now, lifetime, &jti),
        };
        for (k, v) in spec.claims {
            claims.insert(k, v);
        }
        for k in &spec.remove {
            claims.remove(k);
        }
        let previous = {
            let mut last = self.last_jti.lock().unwrap_or_else(|p| p.into_inner());
            let previous = last.clone();
            if let Some(Value::String(jti)) = claims.get("jti") {
                *last = Some(jti.clone());
            }
            previous
        };
        if let Some(f) = &fault {
            f.edit_claims(&mut claims, now, previous.as_deref());
        }
        let key = self.ring().current();
        let unpublished = match fault {
            Some(Fault::UnpublishedKey) => Some(self.unpublished_key().await?),
            _ => None,
        };
        let signed = claims.clone();
        let token = tokio::task::spawn_blocking(move || {
            Fault::sign(fault.as_ref(), &signed, &key, unpublished.as_deref())
        })
        .await
        .map_err(anyhow::Error::from)??;
        Ok((token, claims))
    }

    /// A fresh GitHub-shaped token for `identity`.
    pub async fn github_token(
        &self,
        identity: &GitHubIdentity,
        audience: &str,
        fault: Option<String>,
    ) -> Result<String, IssuerError> {
        let spec = TokenSpec {
            provider: "github".into(),
            audience: audience.to_owned(),
            identity: serde_json::to_value(identity).map_err(anyhow::Error::from)?,
            claims: Map::new(),
            remove: Vec::new(),
            lifetime: None,
            fault,
        };
        Ok(self.issue(spec).await?.0)
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

/// The claim object built with `json!` (always an object) as a map.
fn object(claims: Value) -> Map<String, Value> {
    match claims {
        Value::Object(map) => map,
        _ => Map::new(),
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
        .route("/_control", get(control_state))
        .route("/_control/rotate", post(control_rotate))
        .route("/_control/jwks", post(control_jwks))
        .with_state(issuer)
}

fn known_provider(provider: &str) -> Result<(), IssuerError> {
    if PROVIDERS.contains(&provider) {
        Ok(())
    } else {
        Err(IssuerError::UnknownProvider(provider.to_owned()))
    }
}

fn claims_supported(provider: &str) -> Value {
    match provider {
        "github" => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "ref",
            "sha",
            "repository",
            "repository_id",
            "repository_owner",
            "repository_owner_id",
            "workflow",
            "workflow_ref",
            "job_workflow_ref",
            "environment",
            "event_name",
            "actor",
            "actor_id",
            "run_id"
        ]),
        "gitlab" => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "project_path",
            "namespace_path",
            "ci_config_ref_uri",
            "ref_path",
            "sha",
            "environment",
            "user_login"
        ]),
        "google" => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "email",
            "email_verified",
            "azp"
        ]),
        _ => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "organization",
            "project",
            "actor",
            "actor_id",
            "builder"
        ]),
    }
}

async fn discovery(
    State(issuer): State<Arc<Issuer>>,
    Path(provider): Path<String>,
) -> Result<Response, IssuerError> {
    known_provider(&provider)?;
    Ok(Json(json!({
        "issuer": issuer.issuer_url(&provider),
        "jwks_uri": issuer.jwks_url(&provider),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": claims_supported(&provider),
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
    let mut mode = issuer.jwks_mode.subscribe();
    let current = *mode.borrow_and_update();
    match current {
        JwksMode::Normal => Ok(Json(issuer.jwks()).into_response()),
        JwksMode::Fail => Err(IssuerError::Injected),
        JwksMode::Hang => {
            // Wait for a heal (or give up after a minute) without holding a thread.
            let _ = tokio::time::timeout(HANG_LIMIT, mode.changed()).await;
            Err(IssuerError::Injected)
        }
        JwksMode::Empty => Ok(Json(json!({"keys": []})).into_response()),
        JwksMode::Garbage => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            "<html>this is not a key set</html>",
        )
            .into_response()),
        JwksMode::Oversized => {
            let mut set = serde_json::to_value(issuer.jwks()).map_err(anyhow::Error::from)?;
            set["padding"] = Value::String("x".repeat(1 << 20));
            Ok(Json(set).into_response())
        }
        JwksMode::Redirect => Ok((
            StatusCode::FOUND,
            [(header::LOCATION, issuer.jwks_url(&provider))],
        )
            .into_response()),
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    audience: Option<String>,
    fault: Option<String>,
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
    // Real GitHub defaults the audience to the owner's URL when none is asked for.
    let audience = request
        .audience
        .unwrap_or_else(|| format!("https://github.com/{}", request.identity.owner()));
    let token = issuer
        .github_token(&request.identity, &audience, request.fault)
        .await?;
    Ok(Json(json!({"count": 1, "value": token})).into_response())
}

/// Mint any token the tests need: provider, identity, audience, lifetime, claim
/// overrides and a fault.
async fn mint(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Result<Json<TokenSpec>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, IssuerError> {
    issuer.check_bearer(&headers)?;
    let Json(spec) = body.map_err(|e| IssuerError::BadRequest(e.body_text()))?;
    let (token, claims) = issuer.issue(spec).await?;
    Ok(Json(json!({"token": token, "claims": claims})).into_response())
}

async fn control_state(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
) -> Result<Response, IssuerError> {
    issuer.check_bearer(&headers)?;
    let keys = issuer.ring().state(crate::store::now());
    let mode = *issuer.jwks_mode.borrow();
    let issuers: Map<String, Value> = PROVIDERS
        .iter()
        .map(|p| ((*p).to_owned(), Value::String(issuer.issuer_url(p))))
        .collect();
    Ok(Json(json!({"keys": keys, "jwks_mode": mode, "issuers": issuers})).into_response())
}

#[derive(Deserialize)]
struct RotateRequest {
    /// Seconds the old key stays published [default: 60].
    #[serde(default)]
    overlap_seconds: Option<i64>,
}

async fn control_rotate(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Option<Json<RotateRequest>>,
) -> Result<Response, IssuerError> {
    issuer.check_bearer(&headers)?;
    let overlap = body.and_then(|b| b.0.overlap_seconds).unwrap_or(60);
    let keys = issuer.rotate(overlap).await?;
    tracing::info!(overlap, "issuer key rotated");
    Ok(Json(json!({"keys": keys})).into_response())
}

#[derive(Deserialize)]
struct JwksRequest {
    mode: JwksMode,
}

async fn control_jwks(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Result<Json<JwksRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, IssuerError> {
    issuer.check_bearer(&headers)?;
    let Json(request) = body.map_err(|e| {
        IssuerError::BadRequest(format!(
            "{}: send {{\"mode\": \"normal|fail|hang|empty|garbage|oversized|redirect\"}}",
            e.body_text()
        ))
    })?;
    issuer.jwks_mode.send_replace(request.mode);
    tracing::info!(mode = ?request.mode, "issuer JWKS mode changed");
    Ok(Json(json!({"jwks_mode": request.mode})).into_response())
}
