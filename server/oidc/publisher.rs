//! One type for every provider's publisher configuration, so matching, the control API
//! and the audit log treat all four alike.

use serde_json::{Map, Value};

use super::activestate::{self, ActiveStateConfig};
use super::github::{self, GitHubConfig};
use super::gitlab::{self, GitLabConfig};
use super::google::{self, GoogleConfig};
use super::matching::{Evaluation, claim_str};
use crate::provider::Provider;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublisherConfig {
    GitHub(GitHubConfig),
    GitLab(GitLabConfig),
    Google(GoogleConfig),
    ActiveState(ActiveStateConfig),
}

impl PublisherConfig {
    /// Validate a publisher object with Warehouse's field names. `gitlab_issuer` is the
    /// `issuer_url` a GitLab publisher gets when it names none.
    pub fn parse(
        provider: Provider,
        map: &Map<String, Value>,
        gitlab_issuer: Option<&str>,
    ) -> Result<Self, String> {
        Ok(match provider {
            Provider::GitHub => Self::GitHub(GitHubConfig::from_json(map)?),
            Provider::GitLab => Self::GitLab(GitLabConfig::from_json(map, gitlab_issuer)?),
            Provider::Google => Self::Google(GoogleConfig::from_json(map)?),
            Provider::ActiveState => Self::ActiveState(ActiveStateConfig::from_json(map)?),
        })
    }

    pub fn to_json(&self) -> Map<String, Value> {
        match self {
            Self::GitHub(c) => c.to_json(),
            Self::GitLab(c) => c.to_json(),
            Self::Google(c) => c.to_json(),
            Self::ActiveState(c) => c.to_json(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::GitHub(c) => c.describe(),
            Self::GitLab(c) => c.describe(),
            Self::Google(c) => c.describe(),
            Self::ActiveState(c) => c.describe(),
        }
    }

    pub fn evaluate(&self, claims: &Map<String, Value>, iss: &str) -> Evaluation {
        match self {
            Self::GitHub(c) => github::evaluate(c, claims),
            Self::GitLab(c) => gitlab::evaluate(c, claims, iss),
            Self::Google(c) => google::evaluate(c, claims),
            Self::ActiveState(c) => activestate::evaluate(c, claims),
        }
    }
}

/// A lookup that cannot start: Warehouse's reason and what to change.
pub fn precondition(
    provider: Provider,
    claims: &Map<String, Value>,
) -> Option<(&'static str, String)> {
    match provider {
        Provider::GitHub => github::lookup_precondition(claims).map(|reason| {
            (
                reason,
                format!(
                    "job_workflow_ref '{}' names no .yml/.yaml workflow file.",
                    claim_str(claims, "job_workflow_ref").unwrap_or("")
                ),
            )
        }),
        Provider::GitLab => gitlab::precondition(claims),
        Provider::Google | Provider::ActiveState => None,
    }
}
