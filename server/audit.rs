//! The audit record of one token exchange, and of one upload's attestations, each in
//! one typed form: built by the exchange (or the attestation verifier), stored as JSON
//! by the store, read back and rendered by the control API and the dashboard. A leaf:
//! the verifiers and the store depend on it, it on none of them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// PyPI's error codes for a refused token exchange (`errors[].code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MintCode {
    InvalidPayload,
    InvalidToken,
    InvalidPublisher,
    InvalidPendingPublisher,
    InvalidReuseToken,
    NotEnabled,
    /// PEP 807: features the index does not offer.
    InvalidFeatures,
    ServerError,
}

impl MintCode {
    pub const ALL: [MintCode; 8] = [
        Self::InvalidPayload,
        Self::InvalidToken,
        Self::InvalidPublisher,
        Self::InvalidPendingPublisher,
        Self::InvalidReuseToken,
        Self::NotEnabled,
        Self::InvalidFeatures,
        Self::ServerError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPayload => "invalid-payload",
            Self::InvalidToken => "invalid-token",
            Self::InvalidPublisher => "invalid-publisher",
            Self::InvalidPendingPublisher => "invalid-pending-publisher",
            Self::InvalidReuseToken => "invalid-reuse-token",
            Self::NotEnabled => "not-enabled",
            Self::InvalidFeatures => "invalid-features",
            Self::ServerError => "server-error",
        }
    }
}

impl std::str::FromStr for MintCode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| format!("unknown exchange code '{text}'"))
    }
}

impl std::fmt::Display for MintCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MintCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// So tables of expected codes can stay PyPI's strings.
impl PartialEq<&str> for MintCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How an exchange ended, as its audit row records it: `accepted`, or the code it
/// was refused with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeOutcome {
    Accepted,
    Refused(MintCode),
}

impl ExchangeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused(code) => code.as_str(),
        }
    }
}

impl TryFrom<String> for ExchangeOutcome {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "accepted" => Ok(Self::Accepted),
            code => code.parse().map(Self::Refused),
        }
    }
}

impl Serialize for ExchangeOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Everything an exchange learned, for explaining it (never the raw token or its
/// signature).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Detail {
    /// The JWT header, once the token could be decoded.
    pub header: Option<Map<String, Value>>,
    /// The claims, once the token could be decoded.
    pub claims: Option<Map<String, Value>>,
    /// Where the verification key came from.
    pub key: Option<KeySource>,
    #[serde(default)]
    pub steps: Vec<Step>,
    /// The publishers considered that tell the most, with a verdict per claim: the
    /// chosen one first, then the closest (at most [`REPORTED_CANDIDATES`]).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// How many more publishers were considered than `candidates` names.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub candidates_omitted: usize,
}

/// How many considered publishers an exchange's record names in full: an index with
/// hundreds of publishers must not store (and show) a verdict table for each of them
/// with every exchange.
pub const REPORTED_CANDIDATES: usize = 5;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Detail {
    /// The stored text, or an empty detail when it cannot be read (a row from a
    /// future version, say): the rest of the row is still worth showing.
    pub fn from_stored(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// How an upload's attestations (PEP 740) were verified: one entry per attestation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttestationReport(pub Vec<AttestationCheck>);

/// One attestation's verification, step by step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttestationCheck {
    pub predicate_type: String,
    /// What the predicate type is called ("publish/v1", "SLSA provenance v1").
    pub kind: Option<String>,
    pub steps: Vec<Step>,
}

impl AttestationReport {
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
    }
}

/// Where a verification key came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeySource {
    pub kid: String,
    pub jwks_url: String,
    pub fetched_now: bool,
}

/// One verification step: what was checked and what was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: Cow<'static, str>,
    pub ok: bool,
    pub detail: String,
}

impl Step {
    pub fn pass(step: &'static str, detail: impl Into<String>) -> Self {
        Self {
            step: Cow::Borrowed(step),
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn fail(step: &'static str, detail: impl Into<String>) -> Self {
        Self {
            step: Cow::Borrowed(step),
            ok: false,
            detail: detail.into(),
        }
    }
}

/// A publisher the exchange considered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub publisher_id: i64,
    pub project: String,
    /// The publisher's configuration in one line.
    pub summary: String,
    /// The one the exchange chose (its failures, if any, decided the refusal).
    pub selected: bool,
    pub verdicts: Vec<Verdict>,
}

/// Whether a verdict selects candidates (Warehouse's database lookup) or is required
/// of the chosen one (its `verify_claims`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Lookup,
    Check,
}

/// One claim judged against one publisher.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub claim: Cow<'static, str>,
    pub expected: String,
    pub actual: Option<String>,
    pub rule: Cow<'static, str>,
    pub ok: bool,
    pub stage: Stage,
    /// Warehouse's text when this verdict decides a refusal.
    #[serde(skip)]
    pub failure: String,
}

impl Verdict {
    pub fn lookup(
        claim: &'static str,
        expected: &str,
        actual: Option<&str>,
        rule: &'static str,
        ok: bool,
    ) -> Self {
        Self {
            claim: Cow::Borrowed(claim),
            expected: expected.to_owned(),
            actual: actual.map(str::to_owned),
            rule: Cow::Borrowed(rule),
            ok,
            stage: Stage::Lookup,
            failure: "Publisher with matching claims was not found".into(),
        }
    }

    pub fn check(
        claim: &'static str,
        expected: &str,
        actual: Option<&str>,
        rule: &'static str,
        ok: bool,
        failure: &str,
    ) -> Self {
        Self {
            stage: Stage::Check,
            failure: failure.to_owned(),
            ..Self::lookup(claim, expected, actual, rule, ok)
        }
    }

    /// What differed, in a sentence.
    pub fn explain(&self) -> String {
        match &self.actual {
            Some(actual) => format!(
                "{} is '{actual}' but the publisher expects '{}'",
                self.claim, self.expected
            ),
            None => format!(
                "the token has no '{}' (the publisher expects '{}')",
                self.claim, self.expected
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_round_trips_through_its_stored_form() {
        let mut detail = Detail {
            steps: vec![Step::pass("issuer", "trusted github issuer")],
            ..Default::default()
        };
        detail.candidates.push(Candidate {
            publisher_id: 3,
            project: "demo".into(),
            summary: "octo/demo · release.yml · any environment".into(),
            selected: true,
            verdicts: vec![Verdict::check(
                "environment",
                "pypi",
                Some("staging"),
                "equal",
                false,
                "Check failed for optional claim 'environment'",
            )],
        });
        let back = Detail::from_stored(&detail.to_stored());
        assert_eq!(back.steps[0].step, "issuer");
        assert_eq!(back.candidates[0].verdicts[0].stage, Stage::Check);
        assert_eq!(
            back.candidates[0].verdicts[0].explain(),
            "environment is 'staging' but the publisher expects 'pypi'"
        );
        // The stored JSON keeps the shape the API has always shown.
        let json: Value = serde_json::from_str(&detail.to_stored()).unwrap();
        assert_eq!(json["candidates"][0]["verdicts"][0]["stage"], "check");
        assert!(
            json["candidates"][0]["verdicts"][0]
                .get("failure")
                .is_none()
        );
        assert!(Detail::from_stored("not json").steps.is_empty());
    }
}

/// What one `POST /_/oidc/burn-token` did. PyPI answers 202 whatever happened
/// (warehouse#20197), so the outcome lives only here: the audit API and the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BurnOutcome {
    /// A trusted-publishing token, revoked now.
    Burned,
    /// A trusted-publishing token revoked by an earlier burn; its first burn time stands.
    AlreadyBurned,
    /// An API token: PyPI burns only tokens that trusted publishing minted.
    NotTrustedPublishing,
    /// Not a token of this index (never minted here, or reset away).
    Unknown,
}

impl BurnOutcome {
    pub const ALL: [BurnOutcome; 4] = [
        Self::Burned,
        Self::AlreadyBurned,
        Self::NotTrustedPublishing,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Burned => "burned",
            Self::AlreadyBurned => "already-burned",
            Self::NotTrustedPublishing => "not-trusted-publishing",
            Self::Unknown => "unknown-token",
        }
    }

    /// The explanation the 202 does not give.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Burned => {
                "the trusted-publishing token was revoked: later uploads with it are refused"
            }
            Self::AlreadyBurned => "the token had been burned already; nothing changed",
            Self::NotTrustedPublishing => {
                "an API token, not one minted by trusted publishing: PyPI leaves it valid, and so does mock-pypi"
            }
            Self::Unknown => "no token of this index matches: nothing was revoked",
        }
    }

    pub fn revoked(self) -> bool {
        self == Self::Burned
    }
}

impl TryFrom<String> for BurnOutcome {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| format!("unknown burn outcome '{text}'"))
    }
}

impl Serialize for BurnOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
