//! GitHub Actions publisher rules, as Warehouse applies them (reference/warehouse.md §3).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{
    Evaluation, Pinned, Verdict, claim_str, environment_phrase, environment_verdict, field,
};

static WORKFLOW_FILENAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([^/]+\.(?:yml|yaml))@").expect("static regex"));

/// A GitHub publisher's configuration, with Warehouse's field names (also its stored form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubConfig {
    pub repository_owner: String,
    pub repository_name: String,
    pub repository_owner_id: String,
    pub workflow_filename: String,
    /// Stored lowercased; empty means any environment.
    pub environment: String,
}

impl GitHubConfig {
    /// Validate and normalise a publisher object. `repository_owner_id` defaults to the
    /// id the fake issuer derives for the owner.
    pub fn from_input(map: &Map<String, Value>) -> Result<Self, String> {
        let mut owner = field(map, "repository_owner")?;
        let mut name = field(map, "repository_name")?;
        // Accept the familiar `repository: OWNER/REPO` shorthand too.
        let repository = field(map, "repository")?;
        if let Some((o, n)) = repository.split_once('/') {
            if owner.is_empty() {
                owner = o.to_owned();
            }
            if name.is_empty() {
                name = n.to_owned();
            }
        }
        if owner.is_empty() || name.is_empty() {
            return Err("a GitHub publisher needs 'repository_owner' and 'repository_name' (or 'repository': 'OWNER/REPO')".into());
        }
        let workflow_filename = match field(map, "workflow_filename")? {
            w if w.is_empty() => field(map, "workflow")?,
            w => w,
        };
        if !(workflow_filename.ends_with(".yml") || workflow_filename.ends_with(".yaml"))
            || workflow_filename.contains('/')
        {
            return Err(format!(
                "'workflow_filename' must be a bare file name ending in .yml or .yaml (got '{workflow_filename}')"
            ));
        }
        let mut repository_owner_id = field(map, "repository_owner_id")?;
        if repository_owner_id.is_empty() {
            repository_owner_id = crate::provider::derived_id("owner", &owner);
        }
        Ok(Self {
            repository_owner: owner,
            repository_name: name,
            repository_owner_id,
            workflow_filename,
            environment: field(map, "environment")?.to_lowercase(),
        })
    }

    pub fn describe(&self) -> String {
        let env = environment_phrase(&self.environment);
        format!(
            "{}/{} · {} · {env}",
            self.repository_owner, self.repository_name, self.workflow_filename
        )
    }
}

/// The workflow file named in `job_workflow_ref`: the first `NAME.yml@` / `NAME.yaml@`
/// run of non-slash characters, taken greedily (Warehouse's rule).
pub fn extract_workflow_filename(job_workflow_ref: &str) -> Option<&str> {
    WORKFLOW_FILENAME
        .captures(job_workflow_ref)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// Judge every claim against one publisher. Lookup verdicts decide whether the
/// publisher is a candidate at all; check verdicts are run on the chosen one.
pub fn evaluate(config: &GitHubConfig, claims: &Map<String, Value>) -> Evaluation {
    let environment = claim_str(claims, "environment");
    let mut verdicts = lookup(config, claims);
    verdicts.extend(checks(config, claims));
    Evaluation {
        verdicts,
        specific: !config.environment.is_empty()
            && environment.is_some_and(|e| e.to_lowercase() == config.environment),
        wildcard: config.environment.is_empty(),
    }
}

/// Exact equality, as Warehouse's database query finds candidates.
fn lookup(config: &GitHubConfig, claims: &Map<String, Value>) -> Vec<Verdict> {
    let repository = claim_str(claims, "repository");
    let owner_id = claim_str(claims, "repository_owner_id");
    let job_workflow_ref = claim_str(claims, "job_workflow_ref");
    let workflow = job_workflow_ref.and_then(extract_workflow_filename);
    let expected_repo = format!("{}/{}", config.repository_owner, config.repository_name);
    vec![
        Verdict::lookup(
            "repository",
            &expected_repo,
            repository,
            "equal (case-sensitive lookup)",
            repository == Some(expected_repo.as_str()),
        ),
        Verdict::lookup(
            "repository_owner_id",
            &config.repository_owner_id,
            owner_id,
            "equal",
            owner_id == Some(config.repository_owner_id.as_str()),
        ),
        Verdict::lookup(
            "workflow",
            &config.workflow_filename,
            workflow.or(job_workflow_ref),
            "file name taken from job_workflow_ref",
            workflow == Some(config.workflow_filename.as_str()),
        ),
    ]
}

/// Warehouse's `verify_claims`, each with Warehouse's failure text.
fn checks(config: &GitHubConfig, claims: &Map<String, Value>) -> Vec<Verdict> {
    let owner = claim_str(claims, "repository_owner");
    let event_name = claim_str(claims, "event_name");
    let pinned = Pinned {
        claim: "job_workflow_ref",
        ref_claim: "ref",
        base: format!(
            "{}/{}/.github/workflows/{}",
            config.repository_owner, config.repository_name, config.workflow_filename
        ),
        actual: claim_str(claims, "job_workflow_ref"),
        git_ref: claim_str(claims, "ref").unwrap_or(""),
        sha: claim_str(claims, "sha").unwrap_or(""),
        both_required: false,
        rule: "equal to OWNER/REPO/.github/workflows/FILE@ref or @sha",
    };
    vec![
        Verdict::check(
            "repository_owner",
            &config.repository_owner,
            owner,
            "equal",
            owner == Some(config.repository_owner.as_str()),
            "Check failed for required claim 'repository_owner'",
        ),
        pinned.verdict(),
        Verdict::check(
            "event_name",
            "anything but pull_request_target",
            event_name,
            "not pull_request_target",
            event_name.is_some_and(|e| e != "pull_request_target"),
            "Publishing from a workflow invoked via 'pull_request_target' is not supported.",
        ),
        environment_verdict(
            &config.environment,
            claim_str(claims, "environment"),
            false,
            "equal, case-insensitive; empty publisher environment accepts any",
        ),
    ]
}

/// Warehouse's own message when the workflow cannot be read from the token.
pub fn lookup_precondition(claims: &Map<String, Value>) -> Option<&'static str> {
    match claim_str(claims, "job_workflow_ref").and_then(extract_workflow_filename) {
        Some(_) => None,
        None => Some("Could not job extract workflow filename from OIDC claims"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_workflow_filename_like_warehouse() {
        assert_eq!(
            extract_workflow_filename("o/r/.github/workflows/release.yml@refs/heads/main"),
            Some("release.yml")
        );
        assert_eq!(
            extract_workflow_filename("o/r/.github/workflows/nested@evil.yml@refs/heads/main"),
            Some("nested@evil.yml")
        );
        assert_eq!(
            extract_workflow_filename(
                "o/r/.github/workflows/basic.yml@refs/heads/misleading@branch.yml"
            ),
            Some("basic.yml")
        );
        assert_eq!(
            extract_workflow_filename("o/r/.github/workflows/x.yaml@v1"),
            Some("x.yaml")
        );
        assert_eq!(
            extract_workflow_filename("o/r/.github/workflows/x.txt@v1"),
            None
        );
    }

    #[test]
    fn config_validation_and_defaults() {
        let c = GitHubConfig::from_input(json!({"repository": "Octo/demo", "workflow_filename": "release.yml", "environment": "PyPI"}).as_object().unwrap()).unwrap();
        assert_eq!(c.repository_owner, "Octo");
        assert_eq!(c.environment, "pypi");
        assert_eq!(
            c.repository_owner_id,
            crate::provider::derived_id("owner", "Octo")
        );
        assert!(
            GitHubConfig::from_input(
                json!({"repository": "o/r", "workflow_filename": "dir/x.yml"})
                    .as_object()
                    .unwrap()
            )
            .is_err()
        );
        assert!(
            GitHubConfig::from_input(
                json!({"repository": "o/r", "workflow_filename": "x.txt"})
                    .as_object()
                    .unwrap()
            )
            .is_err()
        );
        assert!(
            GitHubConfig::from_input(json!({"workflow_filename": "x.yml"}).as_object().unwrap())
                .is_err()
        );
    }
}
