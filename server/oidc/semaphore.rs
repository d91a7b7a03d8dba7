//! Semaphore publisher rules, as warehouse#19048 (open, a preview here) has them: each
//! organisation has its own issuer (`https://ORG.semaphoreci.com`, matched by suffix),
//! and the token's `org`, `org_id`, `prj_id` and `repo_slug` must be the publisher's;
//! the issuer must be the organisation's own.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{Evaluation, Verdict, claim_str, field};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemaphoreConfig {
    /// The organisation's name (its issuer's first label).
    pub organization: String,
    pub organization_id: String,
    /// The Semaphore project's name, for display (`project` is the PyPI project).
    #[serde(default)]
    pub project_name: String,
    pub project_id: String,
    /// `OWNER/REPO` the project builds.
    pub repo_slug: String,
}

impl SemaphoreConfig {
    pub fn from_input(map: &Map<String, Value>) -> Result<Self, String> {
        let c = Self {
            organization: field(map, "organization")?,
            organization_id: field(map, "organization_id")?,
            project_name: field(map, "project_name")?,
            project_id: field(map, "project_id")?,
            repo_slug: field(map, "repo_slug")?,
        };
        if c.organization.is_empty()
            || c.organization_id.is_empty()
            || c.project_id.is_empty()
            || c.repo_slug.is_empty()
        {
            return Err("a Semaphore publisher needs 'organization', 'organization_id', 'project_id' and 'repo_slug'".into());
        }
        Ok(c)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} ({}) · project {} · {}",
            self.organization, self.organization_id, self.project_id, self.repo_slug
        )
    }
}

/// The organisation an issuer belongs to: the `*` of its trusted pattern
/// (`https://ORG.semaphoreci.com`, or the fake issuer's `…/semaphore/ORG`).
pub fn issuer_organization(iss: &str) -> Option<&str> {
    let rest = iss
        .strip_prefix("https://")
        .or_else(|| iss.strip_prefix("http://"))?;
    if let Some((_, org)) = rest.trim_end_matches('/').rsplit_once("/semaphore/") {
        return Some(org);
    }
    rest.split_once('.').map(|(org, _)| org)
}

pub fn evaluate(c: &SemaphoreConfig, claims: &Map<String, Value>, iss: &str) -> Evaluation {
    let org = claim_str(claims, "org");
    let org_id = claim_str(claims, "org_id");
    let prj_id = claim_str(claims, "prj_id");
    let repo = claim_str(claims, "repo_slug");
    let issuer_org = issuer_organization(iss);
    let verdicts = vec![
        Verdict::lookup(
            "org",
            &c.organization,
            org,
            "equal",
            org == Some(c.organization.as_str()),
        ),
        Verdict::lookup(
            "org_id",
            &c.organization_id,
            org_id,
            "equal",
            org_id == Some(c.organization_id.as_str()),
        ),
        Verdict::lookup(
            "prj_id",
            &c.project_id,
            prj_id,
            "equal",
            prj_id == Some(c.project_id.as_str()),
        ),
        Verdict::check(
            "repo_slug",
            &c.repo_slug,
            repo,
            "equal",
            repo == Some(c.repo_slug.as_str()),
            "Check failed for required claim 'repo_slug'",
        ),
        Verdict::check(
            "iss",
            &format!("the issuer of organisation {}", c.organization),
            Some(iss),
            "the organisation's own issuer",
            issuer_org == Some(c.organization.as_str()),
            "The token was issued for another Semaphore organisation",
        ),
    ];
    Evaluation {
        verdicts,
        specific: false,
        wildcard: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_repository_and_the_organisations_issuer() {
        let c = SemaphoreConfig::from_input(json!({"organization": "octo", "organization_id": "o1", "project_id": "p1", "repo_slug": "octo/demo"}).as_object().unwrap()).unwrap();
        let claims =
            json!({"org": "octo", "org_id": "o1", "prj_id": "p1", "repo_slug": "octo/demo"});
        let ok = |iss: &str| {
            evaluate(&c, claims.as_object().unwrap(), iss)
                .verdicts
                .iter()
                .all(|v| v.ok)
        };
        assert!(ok("https://octo.semaphoreci.com"));
        assert!(ok("http://127.0.0.1:9/issuer/semaphore/octo"));
        assert!(!ok("https://other.semaphoreci.com"));
        assert_eq!(
            issuer_organization("https://octo.semaphoreci.com/"),
            Some("octo")
        );
    }
}
