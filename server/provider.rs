//! The four trusted-publishing providers PyPI knows, and what the verifier and the
//! fake issuer must agree on about each: names, required claims, production issuers,
//! and the defaults both sides derive (so a publisher registered without an owner id
//! matches the fake issuer's tokens). A leaf: it depends on nothing in the crate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    GitHub,
    GitLab,
    Google,
    ActiveState,
    /// Preview (warehouse#20515): not on PyPI yet.
    Buildkite,
    /// Preview (warehouse#19349): not on PyPI yet.
    #[serde(rename = "circleci")]
    CircleCi,
    /// Preview (warehouse#19048): not on PyPI yet.
    Semaphore,
}

impl Provider {
    /// The providers PyPI has.
    pub const ALL: [Provider; 4] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::Google,
        Provider::ActiveState,
    ];

    /// The providers of PyPI's open pull requests, served only with `--preview`.
    pub const PREVIEWS: [Provider; 3] =
        [Provider::Buildkite, Provider::CircleCi, Provider::Semaphore];

    /// Every provider this version knows.
    pub const EVERY: [Provider; 7] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::Google,
        Provider::ActiveState,
        Provider::Buildkite,
        Provider::CircleCi,
        Provider::Semaphore,
    ];

    /// The pull request a preview provider comes from; `None` for PyPI's own.
    pub fn preview(self) -> Option<&'static str> {
        match self {
            Provider::Buildkite => Some("warehouse#20515"),
            Provider::CircleCi => Some("warehouse#19349"),
            Provider::Semaphore => Some("warehouse#19048"),
            _ => None,
        }
    }

    /// The name in URLs, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Google => "google",
            Provider::ActiveState => "activestate",
            Provider::Buildkite => "buildkite",
            Provider::CircleCi => "circleci",
            Provider::Semaphore => "semaphore",
        }
    }

    /// The name people read.
    pub fn display(self) -> &'static str {
        match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
            Provider::Google => "Google",
            Provider::ActiveState => "ActiveState",
            Provider::Buildkite => "Buildkite",
            Provider::CircleCi => "CircleCI",
            Provider::Semaphore => "Semaphore",
        }
    }

    /// The real provider's exact `iss`, as PyPI maps it (reference/warehouse.md §2).
    pub fn production_issuer(self) -> &'static str {
        match self {
            Provider::GitHub => "https://token.actions.githubusercontent.com",
            Provider::GitLab => "https://gitlab.com",
            Provider::Google => "https://accounts.google.com",
            Provider::ActiveState => "https://platform.activestate.com/api/v1/oauth/oidc",
            Provider::Buildkite => "https://agent.buildkite.com",
            Provider::CircleCi => "https://oidc.circleci.com",
            // Per organisation: https://ORG.semaphoreci.com (matched by suffix).
            Provider::Semaphore => "https://*.semaphoreci.com",
        }
    }

    /// Claims that must be present and not null before any publisher is considered
    /// (Warehouse's `__required_verifiable_claims__` plus the unverifiable ones it needs).
    pub fn required_claims(self) -> &'static [&'static str] {
        match self {
            Provider::GitHub => &[
                "repository",
                "repository_owner",
                "repository_owner_id",
                "job_workflow_ref",
                "jti",
                "event_name",
                "ref",
                "sha",
            ],
            Provider::GitLab => &[
                "sub",
                "project_path",
                "ci_config_ref_uri",
                "jti",
                "ref_path",
                "sha",
            ],
            Provider::Google => &["email", "email_verified"],
            Provider::ActiveState => &["sub", "organization", "project", "actor_id", "builder"],
            Provider::Buildkite => &["sub", "organization_slug", "pipeline_slug", "jti"],
            Provider::CircleCi => &[
                "sub",
                "oidc.circleci.com/org-id",
                "oidc.circleci.com/project-id",
                "oidc.circleci.com/pipeline-definition-id",
                "oidc.circleci.com/ssh-rerun",
                "jti",
            ],
            Provider::Semaphore => &["sub", "org", "org_id", "prj", "prj_id", "repo_slug", "jti"],
        }
    }

    /// The list for error messages: `github, gitlab, google, activestate`.
    pub fn names() -> String {
        Self::ALL.map(Provider::as_str).join(", ")
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::EVERY
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown provider '{name}' (one of: {}; previews: buildkite, circleci, semaphore)",
                    Self::names()
                )
            })
    }
}

impl TryFrom<String> for Provider {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// The workflow a GitHub job runs when none is named.
pub const DEFAULT_WORKFLOW: &str = "release.yml";
/// The ref a GitHub job runs on when none is named.
pub const DEFAULT_REF: &str = "refs/heads/main";
/// The CI file of a GitLab pipeline when none is named.
pub const DEFAULT_CI_FILE: &str = ".gitlab-ci.yml";
/// The ref a GitLab pipeline runs on when none is named.
pub const DEFAULT_REF_PATH: &str = "refs/heads/main";
/// The ActiveState platform user a build runs as when none is named.
pub const DEFAULT_ACTOR: &str = "builder-bot";

/// A stable numeric id for a name, so the fake issuer and `publisher add` agree on
/// `repository_owner_id` (or `actor_id`) without the user looking one up.
pub fn derived_id(kind: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (10_000_000 + u64::from_be_bytes(first) % 90_000_000).to_string()
}

/// A stable commit id for a repository and ref.
pub fn derived_sha(repository: &str, git_ref: &str) -> String {
    hex::encode(&Sha256::digest(format!("{repository}@{git_ref}").as_bytes())[..20])
}

/// `https://gitlab.example/` → `gitlab.example`: the prefix of GitLab's `ci_config_ref_uri`.
pub fn issuer_host(issuer: &str) -> &str {
    let without_scheme = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer);
    without_scheme.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_listed() {
        for p in Provider::EVERY {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
        }
        let err = "bitbucket".parse::<Provider>().unwrap_err();
        assert!(
            err.contains(
                "github, gitlab, google, activestate; previews: buildkite, circleci, semaphore"
            ),
            "{err}"
        );
    }

    #[test]
    fn derived_values_are_stable() {
        // Stored publishers and issued tokens of earlier versions used these values.
        assert_eq!(derived_id("owner", "octo-org"), "95273364");
        assert_eq!(derived_id("owner", "octo-org").len(), 8);
        assert_ne!(derived_id("owner", "a"), derived_id("owner", "b"));
        assert_eq!(derived_sha("o/r", "refs/heads/main").len(), 40);
        assert_eq!(issuer_host("https://gitlab.example/"), "gitlab.example");
    }
}
