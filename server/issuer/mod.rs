//! The fake OIDC issuer: discovery document and JWKS per provider flavour, GitHub's
//! token-request protocol, a mint-anything endpoint for tests, and failure on demand
//! (bad tokens, key rotation, a broken JWKS endpoint). Mounted at `/issuer` by `serve`,
//! or at `/` by `mock-pypi issuer` (routes in `http`). Each provider's `iss` is
//! `<base>/<provider>` unless configured to be the real provider's string.

pub mod activestate;
pub mod bad_token;
pub mod claims;
mod control;
pub mod github;
pub mod gitlab;
pub mod google;
mod http;
pub mod keys;
pub mod preview;
pub mod sigstore;

pub use http::{router, router_with};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use self::activestate::ActiveStateIdentity;
use self::bad_token::BadToken;
use self::claims::ClaimContext;
use self::github::GitHubIdentity;
use self::gitlab::GitLabIdentity;
use self::google::GoogleIdentity;
use self::keys::{KeyRing, KeyState, SigningKey};
use crate::provider::Provider;

/// GitHub's tokens live five minutes; so do the other flavours here.
pub const DEFAULT_LIFETIME: i64 = 300;
/// A hanging JWKS request gives up after this long even if nobody heals it.
const HANG_LIMIT: Duration = Duration::from_secs(60);
/// How often a hanging key set looks for a heal made by another process.
const HEAL_POLL: Duration = Duration::from_millis(100);

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
    identities: HashMap<Provider, String>,
    unpublished: tokio::sync::OnceCell<Arc<SigningKey>>,
    last_jti: Mutex<Option<String>>,
    jwks_mode: tokio::sync::watch::Sender<JwksMode>,
    sigstore: Option<Arc<crate::issuer::sigstore::Sigstore>>,
    /// Where the key ring and JWKS mode are shared with other processes, if anywhere.
    control: Option<control::ControlFile>,
    /// A workshop's seats: their tokens also open the token routes, each for its
    /// seat's owner only.
    room: std::sync::OnceLock<Arc<crate::workshop::Room>>,
}

/// Who presented the bearer token: the runner (the issuer's request token, any
/// identity) or a workshop seat (tokens for its own owner only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Runner,
    Seat { seat: u32, owner: String },
}

impl Caller {
    /// Refuse an identity a seat may not have: another owner's repository or group,
    /// or a provider the workshop does not use.
    pub fn may_mint(&self, provider: Provider, owners: &[&str]) -> Result<(), IssuerError> {
        let Caller::Seat { seat, owner: mine } = self else {
            return Ok(());
        };
        if !matches!(provider, Provider::GitHub | Provider::GitLab) {
            return Err(IssuerError::Forbidden(format!(
                "seat {seat} mints GitHub and GitLab tokens only, not {provider}"
            )));
        }
        if owners.is_empty() {
            return Err(IssuerError::Forbidden(format!(
                "seat {seat}: the identity names no owner"
            )));
        }
        match owners.iter().find(|o| *o != mine) {
            None => Ok(()),
            Some(o) => Err(IssuerError::Forbidden(format!(
                "seat {seat} mints tokens for {mine}'s repositories only, not {o}'s"
            ))),
        }
    }
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
    #[error("{0}")]
    Forbidden(String),
    #[error("signing failed")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for IssuerError {
    fn into_response(self) -> Response {
        let status = match &self {
            IssuerError::Unauthorized => StatusCode::UNAUTHORIZED,
            IssuerError::Forbidden(_) => StatusCode::FORBIDDEN,
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

/// Who a token is for, in its provider's shape.
#[derive(Clone, Debug)]
// One value per token request, moved once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Identity {
    GitHub(GitHubIdentity),
    GitLab(GitLabIdentity),
    Google(GoogleIdentity),
    ActiveState(ActiveStateIdentity),
    Buildkite(preview::BuildkiteIdentity),
    CircleCi(preview::CircleCiIdentity),
    Semaphore(preview::SemaphoreIdentity),
}

impl Identity {
    /// The owners the token will name: the repository's (GitHub; and a reusable
    /// workflow's, when it names one) or the top-level group (GitLab).
    pub fn owners(&self) -> Vec<&str> {
        match self {
            Self::GitHub(g) => g.owners(),
            Self::GitLab(g) => g
                .project_path
                .split('/')
                .next()
                .filter(|o| !o.is_empty())
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn provider(&self) -> Provider {
        match self {
            Self::GitHub(_) => Provider::GitHub,
            Self::GitLab(_) => Provider::GitLab,
            Self::Google(_) => Provider::Google,
            Self::ActiveState(_) => Provider::ActiveState,
            Self::Buildkite(_) => Provider::Buildkite,
            Self::CircleCi(_) => Provider::CircleCi,
            Self::Semaphore(_) => Provider::Semaphore,
        }
    }

    /// How long the provider makes this identity's tokens live, when it says (a GitLab
    /// job's timeout).
    fn lifetime(&self) -> Option<i64> {
        match self {
            Self::GitLab(id) => id.job_timeout,
            _ => None,
        }
    }

    /// The identity's claims (GitHub's and GitLab's after their shape is checked).
    fn claims(&self, ctx: &ClaimContext<'_>) -> Result<Map<String, Value>, IssuerError> {
        let bad = |m: &str| Err(IssuerError::BadRequest(m.into()));
        Ok(match self {
            Self::GitHub(id) if !id.repository.contains('/') => {
                return bad("repository must be OWNER/REPO");
            }
            Self::GitLab(id) if !id.project_path.contains('/') => {
                return bad("project_path must be NAMESPACE/PROJECT");
            }
            Self::GitHub(id) => {
                id.check().map_err(IssuerError::BadRequest)?;
                id.claims(ctx)
            }
            Self::GitLab(id) => {
                id.check().map_err(IssuerError::BadRequest)?;
                id.claims(ctx)
            }
            Self::Google(id) => id.claims(ctx),
            Self::ActiveState(id) => id.claims(ctx),
            Self::Buildkite(id) => id.claims(ctx),
            Self::CircleCi(id) => id.claims(ctx),
            Self::Semaphore(id) => id.claims(ctx),
        })
    }
}

/// Everything a token can be asked for.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    pub identity: Identity,
    pub audience: String,
    /// Claims to set or replace after the identity's claims are built.
    pub claims: Map<String, Value>,
    /// Claims to delete.
    pub remove: Vec<String>,
    pub lifetime: Option<i64>,
    /// One of [`bad_token::BAD_TOKEN_NAMES`].
    pub bad_token: Option<String>,
}

impl TokenSpec {
    /// A token for `identity` and `audience`, nothing changed.
    pub fn new(identity: Identity, audience: &str) -> Self {
        Self {
            identity,
            audience: audience.to_owned(),
            claims: Map::new(),
            remove: Vec::new(),
            lifetime: None,
            bad_token: None,
        }
    }
}

/// `POST /mint`'s body as sent: the provider by name (GitHub if absent) and its
/// identity as JSON, read into a [`TokenSpec`] once.
#[derive(Debug, Deserialize)]
pub struct MintRequest {
    #[serde(default)]
    pub provider: Option<String>,
    pub audience: String,
    /// Provider-shaped identity: GitHub `{repository, workflow, …}`, GitLab
    /// `{project_path, ci_file, …}`, Google `{email, sub}`, ActiveState
    /// `{organization, project, actor, actor_id}`.
    pub identity: Value,
    #[serde(default)]
    pub claims: Map<String, Value>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub lifetime: Option<i64>,
    /// `fault` until 0.2 (a hidden alias, kept for one release).
    #[serde(default, alias = "fault")]
    pub bad_token: Option<String>,
}

impl TryFrom<MintRequest> for TokenSpec {
    type Error = IssuerError;
    fn try_from(r: MintRequest) -> Result<Self, IssuerError> {
        let name = r.provider.as_deref().unwrap_or(Provider::GitHub.as_str());
        let provider: Provider = name
            .parse()
            .map_err(|_| IssuerError::UnknownProvider(name.to_owned()))?;
        let value = r.identity;
        let identity = match provider {
            Provider::GitHub => Identity::GitHub(identity(provider, value)?),
            Provider::GitLab => Identity::GitLab(identity(provider, value)?),
            Provider::Google => Identity::Google(identity(provider, value)?),
            Provider::ActiveState => Identity::ActiveState(identity(provider, value)?),
            Provider::Buildkite => Identity::Buildkite(identity(provider, value)?),
            Provider::CircleCi => Identity::CircleCi(identity(provider, value)?),
            Provider::Semaphore => Identity::Semaphore(identity(provider, value)?),
        };
        Ok(Self {
            identity,
            audience: r.audience,
            claims: r.claims,
            remove: r.remove,
            lifetime: r.lifetime,
            bad_token: r.bad_token,
        })
    }
}

fn identity<T: serde::de::DeserializeOwned>(
    provider: Provider,
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
            sigstore: None,
            control: None,
            room: std::sync::OnceLock::new(),
        }
    }

    /// Let a workshop's seat tokens in (each for its own owner).
    pub(crate) fn admit_seats(&self, room: Arc<crate::workshop::Room>) {
        let _ = self.room.set(room);
    }

    /// Share the key ring and JWKS mode through `path` with every process that uses it
    /// (what was saved there before is in force from the start).
    pub fn with_control_file(mut self, path: &std::path::Path) -> Self {
        self.control = Some(control::ControlFile::new(path));
        self
    }

    /// Serve a fake Sigstore (CA and transparency log) next to the issuer.
    pub fn with_sigstore(mut self, sigstore: crate::issuer::sigstore::Sigstore) -> Self {
        self.sigstore = Some(Arc::new(sigstore));
        self
    }

    pub fn sigstore(&self) -> Option<&crate::issuer::sigstore::Sigstore> {
        self.sigstore.as_deref()
    }

    /// Verify a token this issuer signed (RS256, a published key, not expired, the
    /// given audience): its provider flavour and claims. The fake CA trusts exactly this.
    pub fn verify_own_token(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<(Provider, Map<String, Value>), String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        let kid = header.kid.ok_or("the token has no 'kid'")?;
        let jwks = self.jwks();
        let jwk = jwks
            .find(&kid)
            .ok_or_else(|| format!("no published key '{kid}'"))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| format!("{e} (the CA expects aud '{audience}')"))?;
        let iss = data.claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let provider = Provider::ALL
            .into_iter()
            .find(|p| self.issuer_url(*p) == iss)
            .ok_or_else(|| format!("'{iss}' is not one of this issuer's flavours"))?;
        Ok((provider, data.claims))
    }

    /// Sign `provider`'s tokens with `iss` (e.g. the real provider's issuer string).
    pub fn with_identities(mut self, identities: HashMap<Provider, String>) -> Self {
        self.identities = identities;
        self
    }

    /// The exact `iss` of a provider flavour.
    pub fn issuer_url(&self, provider: Provider) -> String {
        self.identities
            .get(&provider)
            .cloned()
            .unwrap_or_else(|| format!("{}/{provider}", self.base_url))
    }

    /// Every flavour's `iss`, by provider name (for server.json and the banner).
    pub fn issuer_urls(&self) -> std::collections::BTreeMap<Provider, String> {
        Provider::ALL
            .into_iter()
            .map(|p| (p, self.issuer_url(p)))
            .collect()
    }

    /// Where the provider flavour's keys are published.
    pub fn jwks_url(&self, provider: Provider) -> String {
        format!("{}/{provider}/.well-known/jwks", self.base_url)
    }

    /// Whether the provider signs with a configured `iss` (whose discovery document is
    /// elsewhere, so an index must be given [`Issuer::jwks_url`]).
    pub fn impersonates(&self, provider: Provider) -> bool {
        self.identities.contains_key(&provider)
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
        self.sync();
        self.ring_as_is()
    }

    fn ring_as_is(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        match self.keys.read() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How the key set answers now (as any process sharing the control file set it).
    pub fn jwks_mode(&self) -> JwksMode {
        self.sync();
        *self.jwks_mode.borrow()
    }

    /// Take in what another process changed in the control file. A file that cannot be
    /// read leaves the state as it was, with a warning: the next change rewrites it.
    fn sync(&self) {
        let Some(control) = &self.control else {
            return;
        };
        let saved = match control.changed() {
            Ok(Some(saved)) => saved,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "issuer control file unreadable");
                return;
            }
        };
        let ring = KeyRing::from_saved(&saved.keys, &self.ring_as_is());
        match ring {
            Ok(ring) => {
                let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
                *keys = ring;
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "issuer control file: keys"),
        }
        self.jwks_mode.send_if_modified(|mode| {
            let changed = *mode != saved.jwks_mode;
            *mode = saved.jwks_mode;
            changed
        });
    }

    /// Resolves once the key set no longer hangs: a change made here wakes it at once,
    /// one made by another process is seen within a poll.
    pub async fn healed(&self) {
        let mut mode = self.jwks_mode.subscribe();
        while self.jwks_mode() == JwksMode::Hang {
            let _ = tokio::time::timeout(HEAL_POLL, mode.changed()).await;
        }
    }

    /// Set how the key set answers, on every process sharing the control file.
    pub async fn set_jwks_mode(&self, mode: JwksMode) -> anyhow::Result<()> {
        let Some(control) = &self.control else {
            self.jwks_mode.send_replace(mode);
            return Ok(());
        };
        control
            .update(|saved| {
                let keys = match saved {
                    Some(s) => s.keys,
                    None => self.ring_as_is().saved(),
                };
                Ok(control::Saved {
                    jwks_mode: mode,
                    keys,
                })
            })
            .await?;
        self.sync();
        Ok(())
    }

    fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.ring().jwks(crate::util::now())
    }

    /// A new signing key; the old ones stay published for `overlap` seconds.
    pub async fn rotate(&self, overlap: i64) -> anyhow::Result<Vec<KeyState>> {
        let (key, _) = tokio::task::spawn_blocking(SigningKey::generate).await??;
        let now = crate::util::now();
        let Some(control) = &self.control else {
            let mut ring = self.keys.write().unwrap_or_else(|p| p.into_inner());
            ring.rotate(key, now, overlap);
            return Ok(ring.state(now));
        };
        control
            .update(|saved| {
                let (mut ring, jwks_mode) = match saved {
                    Some(s) => (
                        KeyRing::from_saved(&s.keys, &self.ring_as_is())?,
                        s.jwks_mode,
                    ),
                    None => (
                        KeyRing::from_saved(&self.ring_as_is().saved(), &self.ring_as_is())?,
                        *self.jwks_mode.borrow(),
                    ),
                };
                ring.rotate(key, now, overlap);
                Ok(control::Saved {
                    jwks_mode,
                    keys: ring.saved(),
                })
            })
            .await?;
        Ok(self.ring().state(now))
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
        let provider = spec.identity.provider();
        let bad_token = spec
            .bad_token
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(str::parse::<BadToken>)
            .transpose()
            .map_err(IssuerError::BadRequest)?;
        let iss = self.issuer_url(provider);
        let jti = new_jti();
        let mut claims = spec.identity.claims(&ClaimContext {
            issuer: &iss,
            audience: &spec.audience,
            now: crate::util::now(),
            lifetime: spec
                .lifetime
                .or(spec.identity.lifetime())
                .unwrap_or(DEFAULT_LIFETIME),
            jti: &jti,
        })?;
        let now = crate::util::now();
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
        if let Some(f) = &bad_token {
            f.edit_claims(&mut claims, now, previous.as_deref());
        }
        let key = self.ring().current();
        let unpublished = match bad_token {
            Some(BadToken::UnpublishedKey) => Some(self.unpublished_key().await?),
            _ => None,
        };
        let signed = claims.clone();
        let token = tokio::task::spawn_blocking(move || {
            BadToken::sign(bad_token.as_ref(), &signed, &key, unpublished.as_deref())
        })
        .await
        .map_err(anyhow::Error::from)??;
        Ok((token, claims))
    }

    /// A fresh GitHub-shaped token for `identity`, deliberately bad if asked.
    pub async fn github_token(
        &self,
        identity: &GitHubIdentity,
        audience: &str,
        bad_token: Option<String>,
    ) -> Result<String, IssuerError> {
        let spec = TokenSpec {
            bad_token,
            ..TokenSpec::new(Identity::GitHub(identity.clone()), audience)
        };
        Ok(self.issue(spec).await?.0)
    }

    fn check_bearer(&self, headers: &HeaderMap) -> Result<Caller, IssuerError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (scheme, token) = value.split_once(' ').unwrap_or(("", ""));
        // `id` sends "bearer", uv sends "Bearer": the scheme is case-insensitive (RFC 9110).
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(IssuerError::Unauthorized);
        }
        let token = token.trim();
        if crate::util::constant_time_eq(token, &self.request_token) {
            return Ok(Caller::Runner);
        }
        let room = self.room.get().ok_or(IssuerError::Unauthorized)?;
        let seat = room.seat_of_token(token).ok_or(IssuerError::Unauthorized)?;
        Ok(Caller::Seat {
            seat,
            owner: room.names(seat).owner,
        })
    }
}

/// A random UUID-shaped token id.
pub fn new_jti() -> String {
    let h = crate::util::random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
