//! One token exchange, step by step, in PyPI's order. Every attempt, accepted or
//! refused, is recorded with its header, claims, step verdicts and candidate
//! publishers (never the raw token or its signature).

use serde::Serialize;
use serde_json::{Map, Value};

use super::jwks::KeySource;
use super::jwt::{self, LEEWAY_SECONDS, Step, Unverified};
use super::matching::{Candidate, MatchOutcome, match_publishers};
use crate::error::MintError;
use crate::state::App;
use crate::store::{ExchangeRecord, JtiClaim, NewExchange, NewToken, Recorded, Reified};
use crate::tokens;
use crate::util::now;

/// A minted upload token, as returned to the client.
pub struct Minted {
    pub token: String,
    pub expires: i64,
}

/// What we learned so far, for the audit log.
#[derive(Default)]
struct Attempt {
    issuer: Option<String>,
    provider: Option<String>,
    header: Option<Map<String, Value>>,
    claims: Map<String, Value>,
    key: Option<KeySource>,
    steps: Vec<Step>,
    candidates: Vec<Candidate>,
}

/// The audit detail, serialised straight from the attempt (no intermediate copies).
#[derive(Serialize)]
struct Detail<'a> {
    header: &'a Option<Map<String, Value>>,
    claims: Option<&'a Map<String, Value>>,
    key: &'a Option<KeySource>,
    steps: &'a [Step],
    candidates: &'a [Candidate],
}

impl Attempt {
    fn detail(&self) -> String {
        let detail = Detail {
            header: &self.header,
            claims: self.header.as_ref().map(|_| &self.claims),
            key: &self.key,
            steps: &self.steps,
            candidates: &self.candidates,
        };
        serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into())
    }

    fn record(&self, code: &str, description: &str) -> NewExchange {
        NewExchange {
            issuer: self.issuer.clone(),
            provider: self.provider.clone(),
            outcome: code.to_owned(),
            description: description.to_owned(),
            detail: self.detail(),
            ..Default::default()
        }
    }

    /// Record the refusal with the full explanation; the client gets it too, or only
    /// Warehouse's text with `--warehouse-exact-errors`.
    async fn refuse(self, app: &App, code: &'static str, description: String) -> MintError {
        let record = ExchangeRecord::Refused(self.record(code, &description));
        if let Err(e) = app.store.record_exchange(record).await {
            tracing::error!(error = %e, "could not record a refused exchange");
        }
        tracing::info!(code, %description, "token exchange refused");
        if app.settings.warehouse_exact_errors {
            MintError::new(code, warehouse_exact(code, &description))
        } else {
            MintError::new(code, description)
        }
    }
}

/// PyPI's own description for a refusal, without mock-pypi's explanation (for users who
/// assert on Warehouse's exact texts; the audit log keeps the explanation).
pub fn warehouse_exact(code: &str, ours: &str) -> String {
    let prefix = |p: &str| {
        if ours.starts_with(p) {
            Some(p.to_owned())
        } else {
            None
        }
    };
    let exact = match code {
        "invalid-token" => Some("malformed or invalid token".to_owned()),
        "invalid-reuse-token" => Some("invalid token: already used".to_owned()),
        "invalid-pending-publisher" => Some("valid token, but project already exists".to_owned()),
        // "valid token, but no corresponding publisher (<reason>). <explanation>"
        "invalid-publisher" => ours.find("). ").map(|end| ours[..=end].to_owned()),
        "invalid-payload" => {
            prefix("malformed JWT").or_else(|| prefix("unknown trusted publishing issuer"))
        }
        _ => None,
    };
    exact.unwrap_or_else(|| ours.to_owned())
}

const REPLAYED: &str = "invalid token: already used (each OIDC token can be exchanged once)";

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

/// `POST /_/oidc/mint-token`: the whole exchange.
pub async fn mint(app: &App, body: &[u8]) -> Result<Minted, MintError> {
    let mut a = Attempt::default();
    let token = match token_from_body(body) {
        Ok(t) => t,
        Err(e) => return Err(a.refuse(app, "invalid-payload", e).await),
    };
    let unverified = match Unverified::parse(&token) {
        Ok(u) => u,
        Err(e) => {
            return Err(a
                .refuse(app, "invalid-payload", format!("malformed JWT: {e}"))
                .await);
        }
    };
    let iss = unverified.iss().to_owned();
    a.header = Some(unverified.header);
    a.claims = unverified.claims;
    a.issuer = Some(iss.clone());

    // The allowlist comes before any network access: an unknown `iss` is never fetched.
    let known = app.store.issuer_with_publishers_cached(&iss).await?;
    let Some((issuer, publishers)) = known.as_ref().clone() else {
        a.steps.push(Step::fail(
            "issuer",
            format!("'{iss}' is not a trusted issuer"),
        ));
        return Err(a
            .refuse(app, "invalid-payload", format!("unknown trusted publishing issuer: '{iss}' is not trusted by this index (see GET /_mock/api/issuers)"))
            .await);
    };
    a.provider = Some(issuer.provider.clone());
    a.steps.push(Step::pass(
        "issuer",
        format!("trusted {} issuer", issuer.provider),
    ));

    let invalid = |detail: &str| format!("malformed or invalid token: {detail}");
    let kid = match jwt::rs256_kid(a.header.as_ref().unwrap_or(&Map::new())) {
        Ok(kid) => kid.to_owned(),
        Err(e) => {
            a.steps.push(Step::fail("header", e.clone()));
            return Err(a.refuse(app, "invalid-token", invalid(&e)).await);
        }
    };
    a.steps
        .push(Step::pass("header", format!("RS256, kid '{kid}'")));
    let key = match app.jwks.key(&issuer, &kid).await {
        Ok((key, source)) => {
            a.steps.push(Step::pass(
                "key",
                format!("'{kid}' from {}", source.jwks_url),
            ));
            a.key = Some(source);
            key
        }
        Err(e) => {
            a.steps.push(Step::fail("key", e.clone()));
            return Err(a.refuse(app, "invalid-token", invalid(&e)).await);
        }
    };
    // Verifying is cheap (public exponent), unlike signing: no need to leave the reactor.
    if let Err(e) = jwt::verify_signature(&token, &key) {
        a.steps.push(Step::fail("signature", e.clone()));
        return Err(a.refuse(app, "invalid-token", invalid(&e)).await);
    }
    a.steps
        .push(Step::pass("signature", "valid RS256 signature"));
    let now = now();
    let claim_steps =
        jwt::check_standard_claims(&a.claims, &issuer.url, &app.settings.audience, now);
    let first_failure = claim_steps
        .iter()
        .find(|s| !s.ok)
        .map(|s| format!("{}: {}", s.step, s.detail));
    a.steps.extend(claim_steps);
    if let Some(failure) = first_failure {
        return Err(a.refuse(app, "invalid-token", invalid(&failure)).await);
    }

    let provider = match issuer.provider.parse::<crate::provider::Provider>() {
        Ok(p) => p,
        Err(_) => {
            let provider = &issuer.provider;
            return Err(a
                .refuse(
                    app,
                    "not-enabled",
                    format!(
                        "{provider} trusted publishing functionality not enabled in this mock-pypi"
                    ),
                )
                .await);
        }
    };
    let (pending, mut normal): (Vec<_>, Vec<_>) = publishers.into_iter().partition(|p| p.pending);

    // Pending publishers first; a refusal there is not an error (PyPI swallows it).
    if let MatchOutcome::Matched {
        publisher: p,
        candidates,
    } = match_publishers(provider, &pending, &a.claims, &iss)
    {
        match app.store.reify_pending(p.id).await? {
            Reified::Created { project } => {
                a.steps.push(Step::pass(
                    "pending",
                    format!("pending publisher {} created project '{project}'", p.id),
                ));
                normal.push(crate::store::PublisherRow {
                    pending: false,
                    project,
                    ..p
                });
            }
            Reified::AlreadyDone => {
                // Another exchange got there first: read the publishers again.
                if let Some((_, fresh)) = app.store.issuer_with_publishers(&iss).await? {
                    normal = fresh.into_iter().filter(|p| !p.pending).collect();
                }
            }
            Reified::ProjectExists { project } => {
                a.candidates = candidates;
                a.steps.push(Step::fail(
                    "pending",
                    format!(
                        "project '{project}' already exists; pending publisher {} removed",
                        p.id
                    ),
                ));
                return Err(a
                    .refuse(
                        app,
                        "invalid-pending-publisher",
                        format!(
                            "valid token, but project already exists ('{project}' was created after pending publisher {} was registered; the pending publisher has been removed: add a normal publisher to '{project}' instead)",
                            p.id
                        ),
                    )
                    .await);
            }
        }
    }
    let outcome = match_publishers(provider, &normal, &a.claims, &iss);
    let publisher = match outcome {
        MatchOutcome::Matched {
            publisher,
            candidates,
        } => {
            a.candidates = candidates;
            publisher
        }
        MatchOutcome::NoMatch {
            reason,
            explanation,
            candidates,
        } => {
            a.candidates = candidates;
            return Err(a
                .refuse(
                    app,
                    "invalid-publisher",
                    format!(
                        "valid token, but no corresponding publisher ({reason}). {explanation}"
                    ),
                )
                .await);
        }
    };

    // The token covers every project whose publisher has this exact configuration.
    let projects: Vec<String> = normal
        .iter()
        .filter(|p| !p.pending && p.provider == publisher.provider && p.config == publisher.config)
        .map(|p| p.project.clone())
        .collect();
    let generated = tokens::generate();
    let expires = now + app.settings.token_lifetime;
    let exp = a.claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    let jti = a
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let exchange = NewExchange {
        issuer: Some(iss.clone()),
        provider: Some(issuer.provider.clone()),
        outcome: "accepted".into(),
        description: format!(
            "token for {} minted by publisher {}",
            projects.join(", "),
            publisher.id
        ),
        publisher_id: Some(publisher.id),
        project: Some(publisher.project.clone()),
        token_id: Some(generated.id.clone()),
        token_expires: Some(expires),
        detail: a.detail(),
    };
    let new_token = NewToken {
        id: generated.id.clone(),
        token_hash: generated.hash.clone(),
        kind: "oidc",
        publisher_id: Some(publisher.id),
        projects: Some(projects),
        description: format!(
            "OpenID token: publisher {} ({})",
            publisher.id, issuer.provider
        ),
        expires_at: Some(expires),
    };
    // PyPI remembers a jti until 35 s after the token expires.
    let claim = jti.clone().map(|jti| JtiClaim {
        issuer: iss.clone(),
        jti,
        expires_at: exp + LEEWAY_SECONDS + 5,
    });
    let record = ExchangeRecord::Accepted {
        jti: claim,
        exchange,
        token: new_token,
    };
    if app.store.record_exchange(record).await? == Recorded::Replayed {
        let detail = format!("jti '{}' was already exchanged", jti.unwrap_or_default());
        a.steps.push(Step::fail("jti", detail));
        return Err(a.refuse(app, "invalid-reuse-token", REPLAYED.into()).await);
    }
    tracing::info!(publisher = publisher.id, token = %generated.id, "token exchange accepted");
    Ok(Minted {
        token: generated.token,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_exact_texts_drop_our_explanations() {
        assert_eq!(
            warehouse_exact(
                "invalid-token",
                "malformed or invalid token: exp: expired 600 s ago"
            ),
            "malformed or invalid token"
        );
        assert_eq!(
            warehouse_exact(
                "invalid-publisher",
                "valid token, but no corresponding publisher (Publisher with matching claims was not found). Closest is publisher 1 …"
            ),
            "valid token, but no corresponding publisher (Publisher with matching claims was not found)"
        );
        assert_eq!(
            warehouse_exact(
                "invalid-payload",
                "unknown trusted publishing issuer: 'x' is not trusted"
            ),
            "unknown trusted publishing issuer"
        );
        assert_eq!(
            warehouse_exact("invalid-reuse-token", REPLAYED),
            "invalid token: already used"
        );
    }

    #[test]
    fn body_errors_say_what_to_send() {
        assert!(
            token_from_body(b"not json")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(token_from_body(b"[]").unwrap_err().contains("JSON object"));
        assert!(token_from_body(b"{}").unwrap_err().contains("no 'token'"));
        assert!(
            token_from_body(br#"{"token": null}"#)
                .unwrap_err()
                .contains("null")
        );
        assert!(
            token_from_body(br#"{"token": 3.14}"#)
                .unwrap_err()
                .contains("number")
        );
        assert!(
            token_from_body(br#"{"token": [""]}"#)
                .unwrap_err()
                .contains("list")
        );
        assert_eq!(
            token_from_body(br#"{"token": "abc", "extra": 1}"#).unwrap(),
            "abc"
        );
    }
}
