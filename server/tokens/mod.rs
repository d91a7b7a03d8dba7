//! The short-lived API tokens minted by an exchange: `pypi-` + 256 random bits.
//! Only a SHA-256 of the token is stored; a token is checked by hashing what the
//! client sent and looking the hash up.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::audit::BurnOutcome;
use crate::store::{BurnRow, Store, StoreResult, TokenKind, TokenRow};
use crate::util::now;

pub const PREFIX: &str = "pypi-";

/// A new token, shown to the client once.
pub struct Generated {
    pub token: String,
    pub hash: String,
    /// Public id (a prefix of the hash), used in logs and the audit API.
    pub id: String,
}

pub fn generate() -> Generated {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash(&token);
    Generated {
        id: hash[..16].to_owned(),
        token,
        hash,
    }
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Why a presented token cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Expired,
    /// Revoked; carries the token's kind (`oidc` tokens are burned by clients).
    Burned(crate::store::TokenKind),
    /// A single-use token (PEP 807) that already served an upload.
    Used,
}

/// Look up a presented token and check it is live.
pub async fn authenticate(
    store: &Store,
    presented: &str,
) -> StoreResult<Result<TokenRow, Refusal>> {
    if !presented.trim().starts_with(PREFIX) {
        return Ok(Err(Refusal::Unknown));
    }
    let Some(row) = store.token_by_hash(&hash(presented)).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    if row.burned_at.is_some() {
        return Ok(Err(Refusal::Burned(row.kind)));
    }
    if row.expires_at.is_some_and(|exp| now() >= exp) {
        return Ok(Err(Refusal::Expired));
    }
    // A single-use token is spent by the first upload that presents it, whatever
    // that upload's fate: PEP 807 allows one upload operation per token.
    if row.single_use.0 && !store.use_single_use_token(&row.id).await? {
        return Ok(Err(Refusal::Used));
    }
    Ok(Ok(row))
}

/// A long-lived API token for one project (`Some`) or every project (`None`),
/// stored and returned once in full.
pub async fn create_api_token(
    store: &Store,
    project: Option<String>,
    description: &str,
    lifetime: Option<i64>,
) -> StoreResult<(Generated, TokenRow)> {
    let generated = generate();
    let token = crate::store::NewToken {
        id: generated.id.clone(),
        token_hash: generated.hash.clone(),
        kind: crate::store::TokenKind::Api,
        publisher_id: None,
        projects: project.map(|p| vec![p]),
        description: description.to_owned(),
        expires_at: lifetime.map(|l| now() + l),
        single_use: false,
    };
    let row = store.insert_token(&token).await?;
    Ok((generated, row))
}

/// Whether the token may upload to this (normalized) project.
pub fn allows_project(token: &TokenRow, normalized: &str) -> bool {
    match &token.projects.0 {
        None => true,
        Some(projects) => projects.iter().any(|p| p == normalized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert!(a.token.starts_with("pypi-"));
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash(&a.token));
        assert_eq!(a.hash, hash(&format!(" {} ", a.token)));
        assert_eq!(a.id.len(), 16);
    }
}

/// What burning this token does (pure): only a trusted-publishing token is revoked,
/// and only once.
pub fn burn_outcome(row: Option<&TokenRow>) -> BurnOutcome {
    match row {
        None => BurnOutcome::Unknown,
        Some(r) if r.kind != TokenKind::Oidc => BurnOutcome::NotTrustedPublishing,
        Some(r) if r.burned_at.is_some() => BurnOutcome::AlreadyBurned,
        Some(_) => BurnOutcome::Burned,
    }
}

/// Burn a presented token as PyPI does, recording what happened.
pub async fn burn(store: &Store, presented: &str) -> StoreResult<BurnRow> {
    let row = store.token_by_hash(&hash(presented)).await?;
    let outcome = burn_outcome(row.as_ref());
    if outcome.revoked() {
        store.burn_token(&hash(presented)).await?;
    }
    store
        .record_burn(row.as_ref().map(|r| r.id.as_str()), outcome)
        .await
}

#[cfg(test)]
mod burn_tests {
    use super::*;
    use crate::store::{Flag, Projects};

    fn row(kind: TokenKind, burned_at: Option<i64>) -> TokenRow {
        TokenRow {
            id: "t".into(),
            kind,
            publisher_id: None,
            projects: Projects(None),
            description: String::new(),
            created_at: 0,
            expires_at: Some(900),
            burned_at,
            single_use: Flag(false),
            used_at: None,
        }
    }

    #[test]
    fn only_a_live_trusted_publishing_token_is_revoked() {
        let cases = [
            (None, BurnOutcome::Unknown),
            (
                Some(row(TokenKind::Api, None)),
                BurnOutcome::NotTrustedPublishing,
            ),
            (
                Some(row(TokenKind::Api, Some(5))),
                BurnOutcome::NotTrustedPublishing,
            ),
            (
                Some(row(TokenKind::Oidc, Some(5))),
                BurnOutcome::AlreadyBurned,
            ),
            (Some(row(TokenKind::Oidc, None)), BurnOutcome::Burned),
        ];
        for (r, want) in cases {
            let got = burn_outcome(r.as_ref());
            assert_eq!(got, want, "{:?}", r.map(|r| (r.kind, r.burned_at)));
            assert_eq!(got.revoked(), want == BurnOutcome::Burned);
        }
    }
}
