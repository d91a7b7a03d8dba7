//! Trusted publishers in one typed form: parsed once from what the API is given (with
//! Warehouse's field names and the familiar shorthands) or from what the store keeps,
//! then matched, rendered by the API and the dashboard, and compared, as values.

use serde::Serialize;
use serde::ser::Serializer;
use serde_json::{Map, Value};

use super::activestate::{self, ActiveStateConfig};
use super::buildkite::{self, BuildkiteConfig};
use super::circleci::{self, CircleCiConfig};
use super::github::{self, GitHubConfig};
use super::gitlab::{self, GitLabConfig};
use super::google::{self, GoogleConfig};
use super::rules::{Evaluation, claim_str};
use super::semaphore::{self, SemaphoreConfig};
use crate::provider::Provider;
use crate::store::PublisherRecord;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublisherConfig {
    GitHub(GitHubConfig),
    GitLab(GitLabConfig),
    Google(GoogleConfig),
    ActiveState(ActiveStateConfig),
    Buildkite(BuildkiteConfig),
    CircleCi(CircleCiConfig),
    Semaphore(SemaphoreConfig),
}

impl PublisherConfig {
    /// Validate a publisher object from the API or the config file. `gitlab_issuer` is
    /// the `issuer_url` a GitLab publisher gets when it names none.
    pub fn from_input(
        provider: Provider,
        map: &Map<String, Value>,
        gitlab_issuer: Option<&str>,
    ) -> Result<Self, String> {
        Ok(match provider {
            Provider::GitHub => Self::GitHub(GitHubConfig::from_input(map)?),
            Provider::GitLab => Self::GitLab(GitLabConfig::from_input(map, gitlab_issuer)?),
            Provider::Google => Self::Google(GoogleConfig::from_input(map)?),
            Provider::ActiveState => Self::ActiveState(ActiveStateConfig::from_input(map)?),
            Provider::Buildkite => Self::Buildkite(BuildkiteConfig::from_input(map)?),
            Provider::CircleCi => Self::CircleCi(CircleCiConfig::from_input(map)?),
            Provider::Semaphore => Self::Semaphore(SemaphoreConfig::from_input(map)?),
        })
    }

    /// Read the stored form (the provider is its own column).
    pub fn from_stored(provider: Provider, text: &str) -> Result<Self, serde_json::Error> {
        Ok(match provider {
            Provider::GitHub => Self::GitHub(serde_json::from_str(text)?),
            Provider::GitLab => Self::GitLab(serde_json::from_str(text)?),
            Provider::Google => Self::Google(serde_json::from_str(text)?),
            Provider::ActiveState => Self::ActiveState(serde_json::from_str(text)?),
            Provider::Buildkite => Self::Buildkite(serde_json::from_str(text)?),
            Provider::CircleCi => Self::CircleCi(serde_json::from_str(text)?),
            Provider::Semaphore => Self::Semaphore(serde_json::from_str(text)?),
        })
    }

    /// The stored form: JSON with sorted keys, so equal configurations are equal text
    /// (the table's uniqueness and the replicas rely on it).
    pub fn to_stored(&self) -> String {
        serde_json::to_value(self)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        match self {
            Self::GitHub(c) => c.describe(),
            Self::GitLab(c) => c.describe(),
            Self::Google(c) => c.describe(),
            Self::ActiveState(c) => c.describe(),
            Self::Buildkite(c) => c.describe(),
            Self::CircleCi(c) => c.describe(),
            Self::Semaphore(c) => c.describe(),
        }
    }

    pub fn evaluate(&self, claims: &Map<String, Value>, iss: &str) -> Evaluation {
        match self {
            Self::GitHub(c) => github::evaluate(c, claims),
            Self::GitLab(c) => gitlab::evaluate(c, claims, iss),
            Self::Google(c) => google::evaluate(c, claims),
            Self::ActiveState(c) => activestate::evaluate(c, claims),
            Self::Buildkite(c) => buildkite::evaluate(c, claims),
            Self::CircleCi(c) => circleci::evaluate(c, claims),
            Self::Semaphore(c) => semaphore::evaluate(c, claims, iss),
        }
    }
}

/// The provider's fields, flat (as Warehouse names them).
impl Serialize for PublisherConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::GitHub(c) => c.serialize(serializer),
            Self::GitLab(c) => c.serialize(serializer),
            Self::Google(c) => c.serialize(serializer),
            Self::ActiveState(c) => c.serialize(serializer),
            Self::Buildkite(c) => c.serialize(serializer),
            Self::CircleCi(c) => c.serialize(serializer),
            Self::Semaphore(c) => c.serialize(serializer),
        }
    }
}

/// A stored publisher, parsed. Serialises as the API shows it: Warehouse's field names
/// at the top level.
#[derive(Clone, Debug, Serialize)]
pub struct Publisher {
    pub id: i64,
    pub provider: Provider,
    pub project: String,
    pub pending: bool,
    #[serde(flatten)]
    pub config: PublisherConfig,
    pub created_at: i64,
    /// A pending publisher's expiry (filled in for display; matching asks the policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl TryFrom<PublisherRecord> for Publisher {
    type Error = String;

    fn try_from(r: PublisherRecord) -> Result<Self, String> {
        let provider: Provider = r.provider.parse()?;
        let config = PublisherConfig::from_stored(provider, &r.config)
            .map_err(|e| format!("publisher {}: unreadable configuration: {e}", r.id))?;
        Ok(Self {
            id: r.id,
            provider,
            project: r.project,
            pending: r.pending != 0,
            config,
            created_at: r.created_at,
            expires_at: None,
        })
    }
}

impl Publisher {
    /// Parse stored publishers, skipping (and logging) any that cannot be read, so one
    /// bad row never hides the others.
    pub fn parse_all(records: Vec<PublisherRecord>) -> Vec<Publisher> {
        records
            .into_iter()
            .filter_map(|r| match Publisher::try_from(r) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a stored publisher");
                    None
                }
            })
            .collect()
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
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_is_sorted_json_and_round_trips() {
        let input = json!({"repository": "octo/demo", "workflow_filename": "release.yml", "environment": "PyPI"});
        let config =
            PublisherConfig::from_input(Provider::GitHub, input.as_object().unwrap(), None)
                .unwrap();
        let stored = config.to_stored();
        assert!(
            stored.starts_with(r#"{"environment":"pypi","repository_name":"demo","repository_owner":"octo","repository_owner_id":""#),
            "{stored}"
        );
        assert_eq!(
            PublisherConfig::from_stored(Provider::GitHub, &stored).unwrap(),
            config
        );
        let gitlab = PublisherConfig::from_input(
            Provider::GitLab,
            json!({"project_path": "g/p"}).as_object().unwrap(),
            Some("https://gitlab.example"),
        )
        .unwrap();
        assert!(gitlab.to_stored().contains(r#""gitlab_project":"p""#));
        assert!(PublisherConfig::from_stored(Provider::Google, "{}").is_err());
    }
}
