//! GitHub Actions-shaped claims. The workflow identity is chosen per request, so one
//! issuer serves any number of test repositories and workflows.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::provider::{DEFAULT_REF, DEFAULT_WORKFLOW, derived_id, derived_sha};

use super::claims::ClaimContext;

/// Who the token says is running. Everything but `repository` has a default.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct GitHubIdentity {
    /// `OWNER/REPO`.
    pub repository: String,
    /// Workflow file name under `.github/workflows/`.
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub repository_owner_id: Option<String>,
    #[serde(default)]
    pub repository_id: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub actor_id: Option<String>,
    /// Set to simulate a reusable workflow (`OWNER/REPO/.github/workflows/F@REF`).
    #[serde(default)]
    pub job_workflow_ref: Option<String>,
    /// `immutable`: the `sub` GitHub gives repositories created or renamed since
    /// 2026-07-15 (`repo:OWNER@OWNER_ID/REPO@REPO_ID:…`); default the classic form.
    #[serde(default)]
    pub sub_format: Option<String>,
    /// A customised subject: the repository's `include_claim_keys`, comma-separated
    /// (`repo,context,job_workflow_ref`); `repo` and `context` are GitHub's segments.
    #[serde(default)]
    pub sub_claim_keys: Option<String>,
}

/// A claim value in a `sub`: GitHub escapes its colons.
fn escaped(value: &str) -> String {
    value.replace(':', "%3A")
}

/// GitHub's `sub` for these claims: the repository segment (`repo:OWNER/REPO`, or the
/// immutable `repo:OWNER@ID/REPO@ID`), then the context (the environment; else
/// `pull_request` for pull-request events; else the ref), or, with `include_claim_keys`,
/// each key's `key:value` in order (`repo` and `context` standing for those segments).
pub fn subject(claims: &Map<String, Value>, immutable: bool, keys: Option<&[&str]>) -> String {
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let repo = if immutable {
        let name = text("repository").split_once('/').map_or("", |(_, n)| n);
        format!(
            "repo:{}@{}/{name}@{}",
            text("repository_owner"),
            text("repository_owner_id"),
            text("repository_id")
        )
    } else {
        format!("repo:{}", text("repository"))
    };
    let context = match claims.get("environment").and_then(Value::as_str) {
        Some(env) => format!("environment:{}", escaped(env)),
        None if matches!(text("event_name"), "pull_request" | "pull_request_target") => {
            "pull_request".to_owned()
        }
        None => format!("ref:{}", escaped(text("ref"))),
    };
    let Some(keys) = keys else {
        return format!("{repo}:{context}");
    };
    keys.iter()
        .map(|k| match *k {
            "repo" => repo.clone(),
            "context" => context.clone(),
            other => format!("{other}:{}", escaped(text(other))),
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// `<issuer base>/github/token?api-version=2.0&repository=…`: the identity travels in
/// the query, and clients append `&audience=…` as they do on real runners.
pub fn request_url(issuer_base: &str, identity: &GitHubIdentity) -> String {
    let mut url = format!(
        "{}/github/token?api-version=2.0",
        issuer_base.trim_end_matches('/')
    );
    let pairs = [
        ("repository", Some(&identity.repository)),
        ("workflow", identity.workflow.as_ref()),
        ("ref", identity.git_ref.as_ref()),
        ("sha", identity.sha.as_ref()),
        ("environment", identity.environment.as_ref()),
        ("event_name", identity.event_name.as_ref()),
        ("repository_owner_id", identity.repository_owner_id.as_ref()),
        ("repository_id", identity.repository_id.as_ref()),
        ("actor", identity.actor.as_ref()),
        ("actor_id", identity.actor_id.as_ref()),
        ("job_workflow_ref", identity.job_workflow_ref.as_ref()),
        ("sub_format", identity.sub_format.as_ref()),
        ("sub_claim_keys", identity.sub_claim_keys.as_ref()),
    ];
    for (key, value) in pairs {
        if let Some(value) = value {
            url.push('&');
            url.push_str(key);
            url.push('=');
            url.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        }
    }
    url
}

impl GitHubIdentity {
    pub fn owner(&self) -> &str {
        self.repository
            .split_once('/')
            .map(|(o, _)| o)
            .unwrap_or(&self.repository)
    }

    /// The full GitHub claim set (every custom claim is a string, as GitHub sends them).
    /// Long because GitHub's claims are many, listed as GitHub documents them.
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let owner = self.owner().to_owned();
        let workflow = self
            .workflow
            .clone()
            .unwrap_or_else(|| DEFAULT_WORKFLOW.into());
        let git_ref = self.git_ref.clone().unwrap_or_else(|| DEFAULT_REF.into());
        let sha = self
            .sha
            .clone()
            .unwrap_or_else(|| derived_sha(&self.repository, &git_ref));
        let workflow_ref = format!("{}/.github/workflows/{workflow}@{git_ref}", self.repository);
        let ref_type = if git_ref.starts_with("refs/tags/") {
            "tag"
        } else {
            "branch"
        };
        let owner_id = self
            .repository_owner_id
            .clone()
            .unwrap_or_else(|| derived_id("owner", &owner));
        let repository_id = self
            .repository_id
            .clone()
            .unwrap_or_else(|| derived_id("repository", &self.repository));
        let actor = self.actor.clone().unwrap_or_else(|| owner.clone());
        let workflow_name = workflow
            .trim_end_matches(".yml")
            .trim_end_matches(".yaml")
            .to_owned();
        let mut claims = json!({
            "jti": ctx.jti,
            "aud": ctx.audience,
            "ref": git_ref,
            "sha": sha,
            "repository": self.repository,
            "repository_owner": owner,
            "repository_owner_id": owner_id,
            "repository_id": repository_id,
            "repository_visibility": "public",
            "actor": actor,
            "actor_id": self.actor_id.clone().unwrap_or_else(|| derived_id("actor", &actor)),
            "run_id": (ctx.now % 10_000_000_000).to_string(),
            "run_number": "1",
            "run_attempt": "1",
            "workflow": workflow_name,
            "workflow_ref": workflow_ref,
            "workflow_sha": sha,
            "job_workflow_ref": self.job_workflow_ref.clone().unwrap_or_else(|| workflow_ref.clone()),
            "job_workflow_sha": sha,
            "head_ref": "",
            "base_ref": "",
            "event_name": self.event_name.clone().unwrap_or_else(|| "push".into()),
            "ref_type": ref_type,
            "ref_protected": "false",
            "runner_environment": "github-hosted",
            "iss": ctx.issuer,
            "nbf": ctx.now - 5,
            "iat": ctx.now,
            "exp": ctx.now + ctx.lifetime,
        });
        if let (Some(env), Some(map)) = (&self.environment, claims.as_object_mut()) {
            map.insert("environment".into(), Value::String(env.clone()));
        }
        let mut claims = super::claims::object(claims);
        let keys: Option<Vec<&str>> = self.sub_claim_keys.as_deref().map(|k| {
            k.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect()
        });
        let immutable = self.sub_format.as_deref() == Some("immutable");
        let sub = subject(&claims, immutable, keys.as_deref());
        claims.insert("sub".into(), Value::String(sub));
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_have_githubs_shape() {
        let id = GitHubIdentity {
            repository: "octo-org/demo".into(),
            environment: Some("pypi".into()),
            git_ref: Some("refs/tags/v1".into()),
            ..Default::default()
        };
        let c = id.claims(&ClaimContext::at("https://iss", "pypi", 1000, 300, "j1"));
        assert_eq!(c["aud"], "pypi");
        assert_eq!(c["repository_owner"], "octo-org");
        assert_eq!(
            c["job_workflow_ref"],
            "octo-org/demo/.github/workflows/release.yml@refs/tags/v1"
        );
        assert_eq!(c["ref_type"], "tag");
        assert_eq!(c["environment"], "pypi");
        assert_eq!(c["sub"], "repo:octo-org/demo:environment:pypi");
        assert_eq!(c["exp"], 1300);
        assert!(c["repository_owner_id"].is_string());
        assert_eq!(c["repository_owner_id"], derived_id("owner", "octo-org"));
        let immutable = GitHubIdentity {
            sub_format: Some("immutable".into()),
            repository_owner_id: Some("111".into()),
            repository_id: Some("222".into()),
            ..id
        };
        let c = immutable.claims(&ClaimContext::at("https://iss", "pypi", 1000, 300, "j1"));
        assert_eq!(c["sub"], "repo:octo-org@111/demo@222:environment:pypi");
    }
}
