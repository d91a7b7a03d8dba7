//! One token exchange (`POST /_/oidc/mint-token`): the pure decision in `decide`, and
//! this thin shell around it that does the I/O in between, in PyPI's order: the
//! issuer and its publishers (cached), the key (cached, fetched on an unknown `kid`),
//! the pending publisher's project, and recording the attempt. Every attempt, accepted
//! or refused, is recorded with its header, claims, step verdicts and candidate
//! publishers (never the raw token or its signature).

mod decide;

pub use decide::{Audit, Grant, Outcome, Pending, Policy, Refusal, Token, warehouse_exact};

use super::jwks::JwksCache;
use super::trust::{TrustCache, Trusted};
use crate::audit::{ExchangeOutcome, Step};
use crate::error::{MintCode, MintError};
use crate::store::{ExchangeRecord, JtiClaim, NewExchange, NewToken, Recorded, Reified, Store};
use crate::tokens;
use crate::util::now;

/// How this exchange's token is minted.
#[derive(Clone, Debug, Default)]
pub struct MintOptions {
    /// Good for one upload (PEP 807's `single-use-token`).
    pub single_use: bool,
    /// Instead of the configured lifetime (a fault's short-lived token).
    pub lifetime: Option<i64>,
    /// A fault that fired on this request, in words: the audit shows it as a step.
    pub fault: Option<String>,
}

/// A minted upload token, as returned to the client.
pub struct Minted {
    pub token: String,
    pub expires: i64,
}

/// What an exchange needs from the server.
pub struct Exchanger<'a> {
    pub store: &'a Store,
    pub jwks: &'a JwksCache,
    pub trust: &'a TrustCache,
    pub policy: &'a Policy,
    /// Refusals carry Warehouse's exact texts (the audit keeps ours).
    pub warehouse_exact_errors: bool,
}

/// Why an exchange stopped short of a grant.
enum Stop {
    Refused(Refusal),
    Failed(MintError),
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::Failed(e.into())
    }
}

impl Exchanger<'_> {
    /// The whole exchange for one request body.
    pub async fn mint(&self, body: &[u8], options: MintOptions) -> Result<Minted, MintError> {
        let mut audit = Audit::default();
        if let Some(fault) = options.fault {
            audit.detail.steps.push(Step::pass("fault", fault));
        }
        let token = match decide::read_token(body, &mut audit) {
            Ok(t) => t,
            Err(refusal) => return Err(self.refuse(audit, refusal).await),
        };
        let decided = self.grant(&token, &mut audit).await;
        // The audit keeps the token's header and claims (moved, not copied).
        audit.keep(token);
        match decided {
            Ok(mut grant) => {
                if let Some(lifetime) = options.lifetime {
                    grant.expires = now() + lifetime;
                }
                self.record(audit, grant, options.single_use).await
            }
            Err(Stop::Refused(refusal)) => Err(self.refuse(audit, refusal).await),
            Err(Stop::Failed(error)) => Err(error),
        }
    }

    /// Everything between the request and the record: the issuer, the key, the
    /// decision, and a pending publisher's project when one matched.
    async fn grant(&self, token: &Token, audit: &mut Audit) -> Result<Grant, Stop> {
        let known = self.trust.lookup(self.store, token.iss()).await?;
        let (kid, trusted) =
            decide::admit(token, known.as_ref().as_ref(), audit).map_err(Stop::Refused)?;
        let key = match self.jwks.key(&trusted.issuer, kid).await {
            Ok((key, source)) => {
                audit.detail.steps.push(Step::pass(
                    "key",
                    format!("'{kid}' from {}", source.jwks_url),
                ));
                audit.detail.key = Some(source);
                key
            }
            Err(e) => return Err(Stop::Refused(decide::key_refusal(&e, audit))),
        };
        let before = audit.clone();
        let now = now();
        let mut outcome = decide::decide(
            token,
            trusted,
            &key,
            now,
            self.policy,
            Pending::Unsettled,
            audit,
        );
        if let Outcome::Reify { publisher_id } = outcome {
            let step = match self.store.reify_pending(publisher_id).await? {
                Reified::Created { project } => Step::pass(
                    "pending",
                    format!("pending publisher {publisher_id} created project '{project}'"),
                ),
                // Another exchange got there first: its project is there now.
                Reified::AlreadyDone => Step::pass(
                    "pending",
                    format!(
                        "pending publisher {publisher_id} was already turned into a normal one"
                    ),
                ),
                Reified::Prohibited { name } => {
                    return Err(Stop::Refused(decide::prohibited(
                        publisher_id,
                        &name,
                        audit,
                    )));
                }
                Reified::ProjectExists { project } => {
                    return Err(Stop::Refused(decide::project_exists(
                        publisher_id,
                        &project,
                        audit,
                    )));
                }
            };
            // Decide again on the publishers as they are now.
            let fresh = TrustCache::read(self.store, token.iss()).await?;
            let fresh: &Trusted = fresh.as_ref().unwrap_or(trusted);
            *audit = before;
            outcome = decide::decide(
                token,
                fresh,
                &key,
                now,
                self.policy,
                Pending::Settled(step),
                audit,
            );
        }
        match outcome {
            Outcome::Mint(grant) => Ok(*grant),
            Outcome::Refused(refusal) => Err(Stop::Refused(refusal)),
            Outcome::Reify { .. } => Err(Stop::Failed(MintError::new(
                MintCode::ServerError,
                "a pending publisher could not be settled; try again",
            ))),
        }
    }

    /// Record the accepted exchange with its token and `jti` claim in one transaction.
    async fn record(
        &self,
        mut audit: Audit,
        grant: Grant,
        single_use: bool,
    ) -> Result<Minted, MintError> {
        let iss = audit.issuer.clone().unwrap_or_default();
        let iss = iss.as_str();
        let generated = tokens::generate();
        let publisher = &grant.publisher;
        let exchange = NewExchange {
            issuer: Some(iss.to_owned()),
            provider: Some(publisher.provider.to_string()),
            outcome: ExchangeOutcome::Accepted,
            description: format!(
                "token for {} minted by publisher {}",
                grant.projects.join(", "),
                publisher.id
            ),
            publisher_id: Some(publisher.id),
            project: Some(publisher.project.clone()),
            token_id: Some(generated.id.clone()),
            token_expires: Some(grant.expires),
            detail: audit.detail.to_stored(),
        };
        let token = NewToken {
            id: generated.id.clone(),
            token_hash: generated.hash.clone(),
            kind: crate::store::TokenKind::Oidc,
            publisher_id: Some(publisher.id),
            projects: Some(grant.projects),
            description: format!(
                "OpenID token: publisher {} ({})",
                publisher.id, publisher.provider
            ),
            expires_at: Some(grant.expires),
            single_use,
        };
        let jti = grant.jti.map(|(jti, expires_at)| JtiClaim {
            issuer: iss.to_owned(),
            jti,
            expires_at,
        });
        let claimed = jti.as_ref().map(|c| c.jti.clone());
        let record = ExchangeRecord::Accepted {
            jti,
            exchange,
            token,
        };
        if self.store.record_exchange(record).await? == Recorded::Replayed {
            let refusal = decide::replayed(&claimed.unwrap_or_default(), &mut audit);
            return Err(self.refuse(audit, refusal).await);
        }
        tracing::info!(publisher = publisher.id, token = %generated.id, "token exchange accepted");
        self.pin(publisher, audit.detail.claims.as_ref()).await;
        Ok(Minted {
            token: generated.token,
            expires: grant.expires,
        })
    }

    /// Trust on first use (Buildkite, warehouse#20515): the first accepted exchange whose
    /// token carries the immutable organization and pipeline ids pins them.
    async fn pin(
        &self,
        publisher: &crate::oidc::publisher::Publisher,
        claims: Option<&serde_json::Map<String, serde_json::Value>>,
    ) {
        use crate::oidc::publisher::PublisherConfig;
        let (PublisherConfig::Buildkite(config), Some(claims)) = (&publisher.config, claims) else {
            return;
        };
        let Some(pinned) = config.pins(claims) else {
            return;
        };
        let from = publisher.config.to_stored();
        let to = PublisherConfig::Buildkite(pinned).to_stored();
        match self.store.repin_publisher(publisher.id, &from, &to).await {
            Ok(true) => tracing::info!(
                publisher = publisher.id,
                "Buildkite ids pinned on first use"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, publisher = publisher.id, "pinning Buildkite ids failed")
            }
        }
    }

    /// Record the refusal with the full explanation; the client gets it too, or only
    /// Warehouse's text with `--warehouse-exact-errors`.
    async fn refuse(&self, audit: Audit, refusal: Refusal) -> MintError {
        let Refusal { code, description } = refusal;
        let record = ExchangeRecord::Refused(NewExchange {
            issuer: audit.issuer,
            provider: audit.provider,
            outcome: ExchangeOutcome::Refused(code),
            description: description.clone(),
            detail: audit.detail.to_stored(),
            publisher_id: None,
            project: None,
            token_id: None,
            token_expires: None,
        });
        if let Err(e) = self.store.record_exchange(record).await {
            tracing::error!(error = %e, "could not record a refused exchange");
        }
        tracing::info!(code = code.as_str(), %description, "token exchange refused");
        if self.warehouse_exact_errors {
            MintError::new(code, warehouse_exact(code, &description))
        } else {
            MintError::new(code, description)
        }
    }
}
