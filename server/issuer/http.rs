//! The fake issuer's routes: discovery and JWKS per provider flavour, GitHub's
//! token-request protocol, `/mint`, and the `/_control` endpoints (key rotation, a
//! broken JWKS endpoint).

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::github::GitHubIdentity;
use super::{Caller, HANG_LIMIT, Issuer, IssuerError, JwksMode, MintRequest, TokenSpec};
use crate::faults::Route;
use crate::provider::Provider;

/// The issuer's routes; `tag` wraps the two a faulted index can break (the token
/// request and the key sets), so the index's fault layer sees them where they are
/// declared.
pub fn router_with<T>(issuer: Arc<Issuer>, tag: T) -> Router
where
    T: Fn(Route, MethodRouter<Arc<Issuer>>) -> MethodRouter<Arc<Issuer>>,
{
    Router::new()
        .route(
            "/{provider}/.well-known/openid-configuration",
            get(discovery),
        )
        .route(
            "/{provider}/.well-known/jwks",
            tag(Route::IssuerJwks, get(jwks)),
        )
        .merge(guarded(&issuer, &tag))
        .merge(super::sigstore::http::router())
        .with_state(issuer)
}

/// The routes that want the runner's request token as bearer (what a CI job holds).
fn guarded<T>(issuer: &Arc<Issuer>, tag: &T) -> Router<Arc<Issuer>>
where
    T: Fn(Route, MethodRouter<Arc<Issuer>>) -> MethodRouter<Arc<Issuer>>,
{
    Router::new()
        .route(
            "/github/token",
            tag(Route::IssuerToken, get(github_token_request)),
        )
        .route("/mint", post(mint))
        .route("/_control", get(control_state))
        .route("/_control/rotate", post(control_rotate))
        .route("/_control/jwks", post(control_jwks))
        .route_layer(axum::middleware::from_fn_with_state(issuer.clone(), bearer))
}

/// Refuse a request without the issuer's request token.
async fn bearer(
    State(issuer): State<Arc<Issuer>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut request = request;
    match issuer.check_bearer(request.headers()) {
        Ok(Caller::Seat { seat, .. }) if request.uri().path().starts_with("/_control") => {
            IssuerError::Forbidden(format!(
                "seat {seat}'s token cannot change the issuer (the instructor's admin does)"
            ))
            .into_response()
        }
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// The issuer's routes on their own (the standalone issuer: nothing is faultable).
pub fn router(issuer: Arc<Issuer>) -> Router {
    router_with(issuer, |_, methods| methods)
}

fn known_provider(provider: &str) -> Result<Provider, IssuerError> {
    provider
        .parse()
        .map_err(|_| IssuerError::UnknownProvider(provider.to_owned()))
}

/// The discovery document's claim list per provider. Long because it is a table: each
/// provider's claims as its issuer documents them.
fn claims_supported(provider: Provider) -> Value {
    match provider {
        Provider::GitHub => json!([
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
        Provider::GitLab => json!([
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
        Provider::Google => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "email",
            "email_verified",
            "azp"
        ]),
        Provider::ActiveState => json!([
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
        Provider::Buildkite => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "organization_slug",
            "pipeline_slug",
            "build_branch",
            "build_tag",
            "build_commit",
            "step_key",
            "organization_id",
            "pipeline_id"
        ]),
        Provider::CircleCi => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "oidc.circleci.com/org-id",
            "oidc.circleci.com/project-id",
            "oidc.circleci.com/pipeline-definition-id",
            "oidc.circleci.com/ssh-rerun",
            "oidc.circleci.com/context-ids",
            "oidc.circleci.com/vcs-ref",
            "oidc.circleci.com/vcs-origin"
        ]),
        Provider::Semaphore => json!([
            "sub",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "org",
            "org_id",
            "prj",
            "prj_id",
            "repo",
            "repo_slug",
            "ref",
            "ref_type"
        ]),
    }
}

async fn discovery(
    State(issuer): State<Arc<Issuer>>,
    Path(provider): Path<String>,
) -> Result<Response, IssuerError> {
    let provider = known_provider(&provider)?;
    Ok(Json(json!({
        "issuer": issuer.issuer_url(provider),
        "jwks_uri": issuer.jwks_url(provider),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": claims_supported(provider),
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }))
    .into_response())
}

async fn jwks(
    State(issuer): State<Arc<Issuer>>,
    Path(provider): Path<String>,
) -> Result<Response, IssuerError> {
    let provider = known_provider(&provider)?;
    match issuer.jwks_mode() {
        JwksMode::Normal => Ok(Json(issuer.jwks()).into_response()),
        JwksMode::Fail => Err(IssuerError::Injected),
        JwksMode::Hang => {
            // Wait for a heal (or give up after a minute) without holding a thread.
            let _ = tokio::time::timeout(HANG_LIMIT, issuer.healed()).await;
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
            [(header::LOCATION, issuer.jwks_url(provider))],
        )
            .into_response()),
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    audience: Option<String>,
    /// `fault` until 0.2 (a hidden alias, kept for one release).
    #[serde(alias = "fault")]
    bad_token: Option<String>,
    #[serde(flatten)]
    identity: GitHubIdentity,
}

/// GitHub's runner protocol: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=X` with the
/// request token as bearer; answers `{"count": 1, "value": "<jwt>"}`.
async fn github_token_request(
    State(issuer): State<Arc<Issuer>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<TokenRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, IssuerError> {
    let Query(request) = query.map_err(|e| {
        IssuerError::BadRequest(format!(
            "{e}: the request URL must carry repository=OWNER/REPO (see `mock-pypi env github`)"
        ))
    })?;
    caller.may_mint(Provider::GitHub, &request.identity.owners())?;
    // Real GitHub defaults the audience to the owner's URL when none is asked for.
    let audience = request
        .audience
        .unwrap_or_else(|| format!("https://github.com/{}", request.identity.owner()));
    let token = issuer
        .github_token(&request.identity, &audience, request.bad_token)
        .await?;
    Ok(Json(json!({"count": 1, "value": token})).into_response())
}

/// Mint any token the tests need: provider, identity, audience, lifetime, claim
/// overrides and a fault.
async fn mint(
    State(issuer): State<Arc<Issuer>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<MintRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, IssuerError> {
    let Json(request) = body.map_err(|e| IssuerError::BadRequest(e.body_text()))?;
    if let Caller::Seat { seat, .. } = &caller
        && (!request.claims.is_empty() || !request.remove.is_empty())
    {
        // Overridden claims could name any repository: a seat mints its identity's own.
        return Err(IssuerError::Forbidden(format!(
            "seat {seat}'s token cannot override or remove claims"
        )));
    }
    let spec = TokenSpec::try_from(request)?;
    caller.may_mint(spec.identity.provider(), &spec.identity.owners())?;
    let (token, claims) = issuer.issue(spec).await?;
    Ok(Json(json!({"token": token, "claims": claims})).into_response())
}

async fn control_state(State(issuer): State<Arc<Issuer>>) -> Result<Response, IssuerError> {
    let keys = issuer.ring().state(crate::util::now());
    let mode = issuer.jwks_mode();
    let issuers: Map<String, Value> = issuer
        .issuer_urls()
        .into_iter()
        .map(|(p, iss)| (p.as_str().to_owned(), Value::String(iss)))
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
    body: Option<Json<RotateRequest>>,
) -> Result<Response, IssuerError> {
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
    body: Result<Json<JwksRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, IssuerError> {
    let Json(request) = body.map_err(|e| {
        IssuerError::BadRequest(format!(
            "{}: send {{\"mode\": \"normal|fail|hang|empty|garbage|oversized|redirect\"}}",
            e.body_text()
        ))
    })?;
    issuer.set_jwks_mode(request.mode).await?;
    tracing::info!(mode = ?request.mode, "issuer JWKS mode changed");
    Ok(Json(json!({"jwks_mode": request.mode})).into_response())
}
