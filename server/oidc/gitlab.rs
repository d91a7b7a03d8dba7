//! GitLab CI/CD publisher rules, as Warehouse applies them (reference/warehouse.md §3):
//! a case-insensitive lookup by namespace and project, but `ci_config_ref_uri`
//! compared exactly against the stored casing; environments case-sensitive.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{
    Evaluation, Pinned, Verdict, claim_str, environment_phrase, environment_verdict, field,
};
use crate::provider::{DEFAULT_CI_FILE, issuer_host};

/// After the first `//`, the longest run ending in `.yml`/`.yaml` that is followed by `@`.
static WORKFLOW_FILEPATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.*\.(?:yml|yaml))@").expect("static regex"));

/// A GitLab publisher's configuration (also its stored form, where the GitLab project
/// is `gitlab_project`: `project` is the PyPI project).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitLabConfig {
    /// May contain `/` (subgroups).
    pub namespace: String,
    #[serde(rename = "gitlab_project")]
    pub project: String,
    pub workflow_filepath: String,
    /// Stored as typed; empty means any environment.
    pub environment: String,
    pub issuer_url: String,
}

impl GitLabConfig {
    /// `project_path: NAMESPACE/PROJECT` or `namespace` + `gitlab_project`. The PyPI
    /// project is the API's `project`, so GitLab's own project field is renamed.
    pub fn from_input(
        map: &Map<String, Value>,
        default_issuer: Option<&str>,
    ) -> Result<Self, String> {
        let mut namespace = field(map, "namespace")?;
        let mut project = field(map, "gitlab_project")?;
        if let Some((n, p)) = field(map, "project_path")?.rsplit_once('/') {
            if namespace.is_empty() {
                namespace = n.to_owned();
            }
            if project.is_empty() {
                project = p.to_owned();
            }
        }
        if namespace.is_empty() || project.is_empty() {
            return Err("a GitLab publisher needs 'project_path': 'NAMESPACE/PROJECT' (or 'namespace' and 'gitlab_project')".into());
        }
        let mut workflow_filepath = field(map, "workflow_filepath")?;
        if workflow_filepath.is_empty() {
            workflow_filepath = DEFAULT_CI_FILE.into();
        }
        if !(workflow_filepath.ends_with(".yml") || workflow_filepath.ends_with(".yaml"))
            || workflow_filepath.starts_with('/')
            || workflow_filepath.ends_with('/')
        {
            return Err(format!(
                "'workflow_filepath' must be a path ending in .yml or .yaml, not starting with '/' (got '{workflow_filepath}')"
            ));
        }
        let mut issuer_url = field(map, "issuer_url")?;
        if issuer_url.is_empty() {
            issuer_url = default_issuer
                .ok_or("'issuer_url' is required: no GitLab issuer is trusted by default")?
                .to_owned();
        }
        Ok(Self {
            namespace,
            project,
            workflow_filepath,
            environment: field(map, "environment")?,
            issuer_url,
        })
    }

    pub fn describe(&self) -> String {
        let env = environment_phrase(&self.environment);
        format!(
            "{}/{} · {} · {env}",
            self.namespace, self.project, self.workflow_filepath
        )
    }
}

/// The CI file named in `ci_config_ref_uri`, Warehouse's way.
pub fn extract_workflow_filepath(ci_config_ref_uri: &str) -> Option<&str> {
    let (_, rest) = ci_config_ref_uri.split_once("//")?;
    WORKFLOW_FILEPATH
        .captures(rest)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

pub fn precondition(claims: &Map<String, Value>) -> Option<(&'static str, String)> {
    let uri = claim_str(claims, "ci_config_ref_uri").unwrap_or("");
    match extract_workflow_filepath(uri) {
        Some(_) => None,
        None => Some((
            "Could not extract workflow filename from OIDC claims",
            format!("ci_config_ref_uri '{uri}' names no .yml/.yaml CI file."),
        )),
    }
}

fn sub_ok(sub: Option<&str>, expected_path: &str) -> bool {
    let Some(sub) = sub else { return false };
    let mut parts = sub.split(':');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
            format!("{a}:{b}").to_lowercase()
                == format!("project_path:{expected_path}").to_lowercase()
        }
        _ => false,
    }
}

pub fn evaluate(config: &GitLabConfig, claims: &Map<String, Value>, iss: &str) -> Evaluation {
    let environment = claim_str(claims, "environment");
    let mut verdicts = lookup(config, claims, iss);
    verdicts.extend(checks(config, claims));
    Evaluation {
        verdicts,
        specific: !config.environment.is_empty()
            && environment == Some(config.environment.as_str()),
        wildcard: config.environment.is_empty(),
    }
}

/// Warehouse's lookup: namespace and project case-insensitively, the CI file from
/// `ci_config_ref_uri`, and the publisher's issuer.
fn lookup(config: &GitLabConfig, claims: &Map<String, Value>, iss: &str) -> Vec<Verdict> {
    let project_path = claim_str(claims, "project_path");
    let (ns, project) = project_path
        .and_then(|p| p.rsplit_once('/'))
        .unwrap_or(("", ""));
    let uri = claim_str(claims, "ci_config_ref_uri");
    let workflow = uri.and_then(extract_workflow_filepath);
    vec![
        Verdict::lookup(
            "namespace",
            &config.namespace,
            project_path.map(|_| ns),
            "equal, case-insensitive (from project_path)",
            ns.to_lowercase() == config.namespace.to_lowercase(),
        ),
        Verdict::lookup(
            "project",
            &config.project,
            project_path.map(|_| project),
            "equal, case-insensitive (from project_path)",
            project.to_lowercase() == config.project.to_lowercase(),
        ),
        Verdict::lookup(
            "workflow_filepath",
            &config.workflow_filepath,
            workflow.or(uri),
            "equal, taken from ci_config_ref_uri",
            workflow == Some(config.workflow_filepath.as_str()),
        ),
        Verdict::lookup(
            "iss",
            &config.issuer_url,
            Some(iss),
            "equal to the publisher's issuer_url",
            iss == config.issuer_url,
        ),
    ]
}

/// Warehouse's `verify_claims` for GitLab, each with Warehouse's failure text.
fn checks(config: &GitLabConfig, claims: &Map<String, Value>) -> Vec<Verdict> {
    let project_path = claim_str(claims, "project_path");
    let expected_path = format!("{}/{}", config.namespace, config.project);
    let pinned = Pinned {
        claim: "ci_config_ref_uri",
        ref_claim: "ref_path",
        base: format!(
            "{}/{expected_path}//{}",
            issuer_host(&config.issuer_url),
            config.workflow_filepath
        ),
        actual: claim_str(claims, "ci_config_ref_uri"),
        git_ref: claim_str(claims, "ref_path").unwrap_or(""),
        sha: claim_str(claims, "sha").unwrap_or(""),
        both_required: true,
        rule: "exactly equal (stored casing); ref_path and sha both non-empty",
    };
    vec![
        Verdict::check(
            "sub",
            &format!("project_path:{expected_path}[:…]"),
            claim_str(claims, "sub"),
            "first two ':' parts equal, case-insensitive",
            sub_ok(claim_str(claims, "sub"), &expected_path),
            "Check failed for required claim 'sub'",
        ),
        Verdict::check(
            "project_path",
            &expected_path,
            project_path,
            "equal, case-insensitive",
            project_path
                .is_some_and(|p| !p.is_empty() && p.to_lowercase() == expected_path.to_lowercase()),
            "Check failed for required claim 'project_path'",
        ),
        pinned.verdict(),
        environment_verdict(
            &config.environment,
            claim_str(claims, "environment"),
            true,
            "equal, case-sensitive; empty publisher environment accepts any",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_filepath_extraction() {
        assert_eq!(
            extract_workflow_filepath("gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"),
            Some(".gitlab-ci.yml")
        );
        assert_eq!(
            extract_workflow_filepath("gitlab.com/g/p//ci/release.yaml@refs/tags/v1"),
            Some("ci/release.yaml")
        );
        assert_eq!(
            extract_workflow_filepath("gitlab.com/g/p//a//b.yml@refs/heads/x"),
            Some("a//b.yml")
        );
        assert_eq!(
            extract_workflow_filepath("gitlab.com/g/p/.gitlab-ci.yml@x"),
            None
        );
        assert_eq!(extract_workflow_filepath("gitlab.com/g/p//ci.txt@x"), None);
    }

    #[test]
    fn sub_rule_ignores_trailing_parts_and_case() {
        assert!(sub_ok(
            Some("project_path:G/P:ref_type:branch:ref:main"),
            "g/p"
        ));
        assert!(!sub_ok(Some("project_path:g/other"), "g/p"));
        assert!(!sub_ok(Some("project_path"), "g/p"));
        assert!(!sub_ok(Some(":g/p"), "g/p"));
        assert!(!sub_ok(None, "g/p"));
    }
}
