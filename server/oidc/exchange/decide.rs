//! The token exchange as a decision, in PyPI's order, with no I/O: what the request
//! holds, whether its issuer is trusted and its header usable (before any key is
//! fetched), then, given the key, the signature, the standard claims and the
//! provider's rules against the publishers. Every step is recorded in the audit.

use serde_json::{Map, Value};

use super::super::jwt::{self, LEEWAY_SECONDS, Unverified, VerifyingKey};
use super::super::matching::{MatchOutcome, match_publishers};
use super::super::publisher::Publisher;
use super::super::trust::{Trusted, issuer_fits};
use crate::audit::{Detail, Step};
use crate::error::MintCode;
use crate::provider::Provider;

/// The rules that come from configuration.
#[derive(Clone, Debug)]
pub struct Policy {
    pub audience: String,
    /// Seconds a minted upload token lives.
    pub token_lifetime: i64,
    /// Seconds a pending publisher stays usable after it was registered (0: forever).
    pub pending_expiry: i64,
    /// This index's name and the other index's (name, audience), when the server serves
    /// two: a token for the other one is explained as such.
    pub index: &'static str,
    pub other_index: Option<(&'static str, String)>,
    /// Preview providers this server serves (`--preview`): PyPI's open pull requests.
    pub previews: Vec<Provider>,
    /// Preview of warehouse#20083: GitHub publishers are looked up by the caller's
    /// `workflow_ref`, so a reusable workflow's job matches its caller's publisher.
    pub reusable_workflows: bool,
}

impl Policy {
    /// When a pending publisher stops matching, if it ever does.
    pub fn pending_expires_at(&self, publisher: &Publisher) -> Option<i64> {
        (publisher.pending && self.pending_expiry > 0)
            .then(|| publisher.created_at + self.pending_expiry)
    }
}

/// What the exchange learned, for the audit log.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    pub issuer: Option<String>,
    pub provider: Option<String>,
    pub detail: Detail,
}

impl Audit {
    /// Keep the token's header and claims for the record.
    pub fn keep(&mut self, token: Token) {
        self.detail.header = Some(token.unverified.header);
        self.detail.claims = Some(token.unverified.claims);
    }

    fn pass(&mut self, step: &'static str, detail: impl Into<String>) {
        self.detail.steps.push(Step::pass(step, detail));
    }

    fn fail(&mut self, step: &'static str, detail: impl Into<String>) {
        self.detail.steps.push(Step::fail(step, detail));
    }
}

/// A refusal: PyPI's error code and the description the client gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: MintCode,
    pub description: String,
}

fn refuse(code: MintCode, description: impl Into<String>) -> Refusal {
    Refusal {
        code,
        description: description.into(),
    }
}

/// A decoded but unverified token with its raw text (the signature covers it).
#[derive(Clone, Debug)]
pub struct Token {
    pub raw: String,
    pub unverified: Unverified,
}

impl Token {
    pub fn iss(&self) -> &str {
        self.unverified.iss()
    }

    pub fn claims(&self) -> &Map<String, Value> {
        &self.unverified.claims
    }
}

/// Where pending publishers stand in this exchange.
#[derive(Clone, Debug)]
pub enum Pending {
    /// Not looked at yet: a matching pending publisher comes first.
    Unsettled,
    /// The shell created the pending publisher's project (this step says so); the
    /// publishers given are as they are now.
    Settled(Step),
}

/// What to do with a verified token.
#[derive(Debug)]
pub enum Outcome {
    Refused(Refusal),
    /// A pending publisher matched: create its project, then decide again.
    Reify {
        publisher_id: i64,
    },
    Mint(Box<Grant>),
}

/// An accepted exchange: who minted, for which projects, until when.
#[derive(Debug)]
pub struct Grant {
    pub publisher: Publisher,
    /// Every project whose publisher has this exact configuration (PyPI scopes the
    /// token to all of them).
    pub projects: Vec<String>,
    pub expires: i64,
    /// The token's `jti`, to be claimed once, and until when it is remembered.
    pub jti: Option<(String, i64)>,
}

/// The request body: `{"token": "<OIDC token>"}`, decoded (not verified).
pub fn read_token(body: &[u8], audit: &mut Audit) -> Result<Token, Refusal> {
    let raw = token_from_body(body).map_err(|e| refuse(MintCode::InvalidPayload, e))?;
    let unverified = Unverified::parse(&raw)
        .map_err(|e| refuse(MintCode::InvalidPayload, format!("malformed JWT: {e}")))?;
    audit.issuer = Some(unverified.iss().to_owned());
    Ok(Token { raw, unverified })
}

/// The allowlist (before any network access: an unknown `iss` is never fetched),
/// then the header: RS256 with a `kid`. Returns the `kid` to look up.
pub fn admit<'t, 'a>(
    token: &'t Token,
    trusted: Option<&'a Trusted>,
    audit: &mut Audit,
) -> Result<(&'t str, &'a Trusted), Refusal> {
    let iss = token.iss();
    let Some(trusted) = trusted else {
        audit.fail("issuer", format!("'{iss}' is not a trusted issuer"));
        return Err(refuse(
            MintCode::InvalidPayload,
            format!(
                "unknown trusted publishing issuer: '{iss}' is not trusted by this index (see GET /_mock/api/issuers)"
            ),
        ));
    };
    audit.provider = Some(trusted.issuer.provider.clone());
    audit.pass(
        "issuer",
        format!("trusted {} issuer", trusted.issuer.provider),
    );
    match token.unverified.rs256_kid() {
        Ok(kid) => {
            audit.pass("header", format!("RS256, kid '{kid}'"));
            Ok((kid, trusted))
        }
        Err(e) => {
            audit.fail("header", e.clone());
            Err(invalid_token(&e))
        }
    }
}

fn invalid_token(detail: &str) -> Refusal {
    refuse(
        MintCode::InvalidToken,
        format!("malformed or invalid token: {detail}"),
    )
}

/// A key that could not be found, as the client is told.
pub fn key_refusal(error: &str, audit: &mut Audit) -> Refusal {
    audit.fail("key", error.to_owned());
    invalid_token(error)
}

/// Given the key: the signature, the standard claims (PyPI's leeway, exact audience),
/// the provider's rules, pending publishers first, then the others.
pub fn decide(
    token: &Token,
    trusted: &Trusted,
    key: &VerifyingKey,
    now: i64,
    policy: &Policy,
    pending: Pending,
    audit: &mut Audit,
) -> Outcome {
    match verify(token, trusted, key, now, policy, audit) {
        Ok(provider) => choose(token, trusted, provider, now, policy, pending, audit),
        Err(refusal) => Outcome::Refused(refusal),
    }
}

/// The signature and the standard claims; the provider, if this index knows it.
fn verify(
    token: &Token,
    trusted: &Trusted,
    key: &VerifyingKey,
    now: i64,
    policy: &Policy,
    audit: &mut Audit,
) -> Result<Provider, Refusal> {
    if let Err(e) = jwt::verify_signature(&token.raw, key) {
        audit.fail("signature", e.clone());
        return Err(invalid_token(&e));
    }
    audit.pass("signature", "valid RS256 signature");
    // A pattern issuer (one `*`) was matched to this token's `iss` by the lookup.
    let expected_iss = if issuer_fits(&trusted.issuer.url, token.iss()) {
        token.iss()
    } else {
        trusted.issuer.url.as_str()
    };
    let steps = jwt::check_standard_claims(token.claims(), expected_iss, &policy.audience, now);
    let first_failure = steps.iter().find(|s| !s.ok).map(|s| {
        let mut text = format!("{}: {}", s.step, s.detail);
        if let Some((other, audience)) = &policy.other_index
            && s.step == "aud"
            && token.claims().get("aud").and_then(serde_json::Value::as_str) == Some(audience)
        {
            text += &format!(
                " (the token was requested for {other}'s audience, and this is {}: a job publishing here asks this index's /_/oidc/audience)",
                policy.index
            );
        }
        text
    });
    audit.detail.steps.extend(steps);
    if let Some(failure) = first_failure {
        return Err(invalid_token(&failure));
    }
    let provider = trusted.provider.ok_or_else(|| {
        refuse(
            MintCode::NotEnabled,
            format!(
                "{} trusted publishing functionality not enabled in this mock-pypi",
                trusted.issuer.provider
            ),
        )
    })?;
    if let Some(pr) = provider.preview()
        && !policy.previews.contains(&provider)
    {
        return Err(refuse(
            MintCode::NotEnabled,
            format!(
                "{} trusted publishing functionality not enabled (preview: not on PyPI yet, {pr}; `serve --preview {}` serves it)",
                provider.display(),
                provider.as_str()
            ),
        ));
    }
    Ok(provider)
}

/// The claims as warehouse#20083 matches a GitHub token: by the caller's workflow, so
/// `job_workflow_ref` reads as `workflow_ref`.
fn caller_view(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut view = claims.clone();
    for (called, caller) in [
        ("job_workflow_ref", "workflow_ref"),
        ("job_workflow_sha", "workflow_sha"),
    ] {
        if let Some(v) = claims.get(caller) {
            view.insert(called.into(), v.clone());
        }
    }
    view
}

/// The publisher for verified claims: a matching pending one first (the shell creates
/// its project), then the normal ones; the grant covers every project of the
/// configuration that matched. One function, though long, so the order of preference
/// reads in one place.
fn choose(
    token: &Token,
    trusted: &Trusted,
    provider: Provider,
    now: i64,
    policy: &Policy,
    pending: Pending,
    audit: &mut Audit,
) -> Outcome {
    let (claims, iss) = (token.claims(), token.iss());
    let caller;
    let claims = if policy.reusable_workflows && provider == Provider::GitHub {
        caller = caller_view(claims);
        if claims.get("job_workflow_ref") != claims.get("workflow_ref") {
            audit.pass(
                "reusable workflow",
                "matched by the caller's workflow_ref (preview of warehouse#20083)",
            );
        }
        &caller
    } else {
        claims
    };
    let (pending_publishers, normal): (Vec<&Publisher>, Vec<&Publisher>) =
        trusted.publishers.iter().partition(|p| p.pending);
    // Expired pending publishers no longer match (PyPI deletes them); they are kept
    // aside to explain a refusal they would otherwise have prevented.
    let (expired, pending_publishers): (Vec<&Publisher>, Vec<&Publisher>) = pending_publishers
        .into_iter()
        .partition(|p| policy.pending_expires_at(p).is_some_and(|at| at <= now));
    match pending {
        Pending::Settled(step) => audit.detail.steps.push(step),
        // A refusal among pending publishers is not an error (PyPI swallows it).
        Pending::Unsettled => {
            if let MatchOutcome::Matched {
                publisher,
                candidates,
            } = match_publishers(provider, pending_publishers, claims, iss)
            {
                record_candidates(audit, candidates);
                return Outcome::Reify {
                    publisher_id: publisher.id,
                };
            }
        }
    }
    let publisher = match match_publishers(provider, normal.iter().copied(), claims, iss) {
        MatchOutcome::Matched {
            publisher,
            candidates,
        } => {
            record_candidates(audit, candidates);
            publisher
        }
        MatchOutcome::NoMatch {
            reason,
            explanation,
            candidates,
        } => {
            record_candidates(audit, candidates);
            let expired = expired_match(provider, &expired, claims, iss);
            let explanation = match expired.map(|p| expired_note(&p, policy, now)) {
                Some(note) => {
                    audit.fail("pending", note.clone());
                    format!("{explanation} Also: {note}.")
                }
                None => explanation,
            };
            return Outcome::Refused(refuse(
                MintCode::InvalidPublisher,
                format!("valid token, but no corresponding publisher ({reason}). {explanation}"),
            ));
        }
    };
    let projects = normal
        .iter()
        .filter(|p| p.provider == publisher.provider && p.config == publisher.config)
        .map(|p| p.project.clone())
        .collect();
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    // PyPI remembers a jti until 35 s after the token expires.
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .map(|jti| (jti.to_owned(), exp + LEEWAY_SECONDS + 5));
    Outcome::Mint(Box::new(Grant {
        publisher,
        projects,
        expires: now + policy.token_lifetime,
        jti,
    }))
}

/// Why an expired pending publisher no longer matches, in words.
fn expired_note(p: &Publisher, policy: &Policy, now: i64) -> String {
    let when = policy.pending_expires_at(p).unwrap_or(now);
    format!(
        "pending publisher {} for '{}' matches this token but expired at {} ({} days after it was registered); register it again",
        p.id,
        p.project,
        crate::util::iso_time(when),
        policy.pending_expiry / 86_400
    )
}

/// The expired pending publisher that would have matched, if any.
fn expired_match(
    provider: Provider,
    expired: &[&Publisher],
    claims: &Map<String, Value>,
    iss: &str,
) -> Option<Publisher> {
    if expired.is_empty() {
        return None;
    }
    match match_publishers(provider, expired.iter().copied(), claims, iss) {
        MatchOutcome::Matched { publisher, .. } => Some(publisher),
        MatchOutcome::NoMatch { .. } => None,
    }
}

/// The refusal when a pending publisher's project name is prohibited (PyPI's
/// project creation refuses it, and the exchange reports that text).
pub fn prohibited(publisher_id: i64, name: &str, audit: &mut Audit) -> Refusal {
    audit.fail(
        "pending",
        format!("pending publisher {publisher_id} would create '{name}', a prohibited name"),
    );
    refuse(
        MintCode::InvalidPayload,
        crate::error::prohibited_name(name),
    )
}

/// The refusal when a pending publisher's project appeared meanwhile.
pub fn project_exists(publisher_id: i64, project: &str, audit: &mut Audit) -> Refusal {
    audit.fail(
        "pending",
        format!("project '{project}' already exists; pending publisher {publisher_id} removed"),
    );
    refuse(
        MintCode::InvalidPendingPublisher,
        format!(
            "valid token, but project already exists ('{project}' was created after pending publisher {publisher_id} was registered; the pending publisher has been removed: add a normal publisher to '{project}' instead)"
        ),
    )
}

pub const REPLAYED: &str = "invalid token: already used (each OIDC token can be exchanged once)";

/// The refusal when the `jti` was claimed by another exchange.
pub fn replayed(jti: &str, audit: &mut Audit) -> Refusal {
    audit.fail("jti", format!("jti '{jti}' was already exchanged"));
    refuse(MintCode::InvalidReuseToken, REPLAYED)
}

/// PyPI's own description for a refusal, without mock-pypi's explanation (for users who
/// assert on Warehouse's exact texts; the audit log keeps the explanation).
pub fn warehouse_exact(code: MintCode, ours: &str) -> String {
    let prefix = |p: &str| {
        if ours.starts_with(p) {
            Some(p.to_owned())
        } else {
            None
        }
    };
    let exact = match code {
        MintCode::InvalidToken => Some("malformed or invalid token".to_owned()),
        MintCode::InvalidReuseToken => Some("invalid token: already used".to_owned()),
        MintCode::InvalidPendingPublisher => {
            Some("valid token, but project already exists".to_owned())
        }
        // "valid token, but no corresponding publisher (<reason>). <explanation>"
        MintCode::InvalidPublisher => ours.find("). ").map(|end| ours[..=end].to_owned()),
        MintCode::InvalidPayload => {
            prefix("malformed JWT").or_else(|| prefix("unknown trusted publishing issuer"))
        }
        // PyPI's texts for these are ours already.
        MintCode::NotEnabled | MintCode::InvalidFeatures | MintCode::ServerError => None,
    };
    exact.unwrap_or_else(|| ours.to_owned())
}

fn token_from_body(body: &[u8]) -> Result<String, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!("the request body is not JSON ({e}); send {{\"token\": \"<OIDC token>\"}}")
    })?;
    match value.get("token") {
        Some(Value::String(token)) => Ok(token.clone()),
        Some(other) if value.is_object() => Err(format!(
            "'token' must be a string, not {}",
            json_kind(other)
        )),
        _ if value.is_object() => {
            Err("the request body has no 'token' field; send {\"token\": \"<OIDC token>\"}".into())
        }
        _ => Err(format!(
            "the request body must be a JSON object, not {}",
            json_kind(&value)
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What the record keeps of the publishers considered.
fn record_candidates(audit: &mut Audit, candidates: crate::oidc::matching::Candidates) {
    audit.detail.candidates = candidates.shown;
    audit.detail.candidates_omitted = candidates.omitted;
}

#[cfg(test)]
mod tests;
