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
    /// When the repository was created or last renamed (`YYYY-MM-DD`): from
    /// 2026-07-15 GitHub gives it the immutable `sub` unless `sub_format` says otherwise.
    #[serde(default)]
    pub repository_created: Option<String>,
    /// The check run of the job [default: derived from the run].
    #[serde(default)]
    pub check_run_id: Option<String>,
    /// The enterprise slug, for a repository in an enterprise: adds `enterprise` and
    /// `enterprise_id`.
    #[serde(default)]
    pub enterprise: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    /// Where the token comes from: `enterprise` (GitHub's issuer with the enterprise's
    /// slug, `https://token.actions.githubusercontent.com/SLUG`) or `ghe.com:SUBDOMAIN`
    /// (data residency, `https://token.actions.SUBDOMAIN.ghe.com`). PyPI trusts neither.
    #[serde(default)]
    pub issuer_form: Option<String>,
    /// `github-hosted` (the default) or `self-hosted`: the kind of runner the job ran
    /// on, as GitHub's `runner_environment` claim says (`mock-pypi act` runs jobs on the
    /// host, a self-hosted runner).
    #[serde(default)]
    pub runner_environment: Option<String>,
}

/// The date from which GitHub gives new and renamed repositories the immutable `sub`.
pub const IMMUTABLE_SUB_FROM: &str = "2026-07-15";

/// The claims GitHub lets `include_claim_keys` name, with its `repo` and `context`.
pub const SUB_CLAIM_KEYS: [&str; 29] = [
    "repo",
    "context",
    "actor",
    "actor_id",
    "base_ref",
    "check_run_id",
    "enterprise",
    "enterprise_id",
    "environment",
    "event_name",
    "head_ref",
    "job_workflow_ref",
    "job_workflow_sha",
    "ref",
    "ref_protected",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repository_visibility",
    "run_attempt",
    "run_id",
    "run_number",
    "runner_environment",
    "sha",
    "workflow",
    "workflow_ref",
    "workflow_sha",
];

/// Check a customised subject's keys (`repo,context,job_workflow_ref`): each one
/// GitHub accepts (or a `repo_property_*`), none twice.
pub fn check_sub_claim_keys(keys: &str) -> Result<Vec<&str>, String> {
    let keys: Vec<&str> = keys.split(',').map(str::trim).collect();
    if keys.iter().all(|k| k.is_empty()) {
        return Err("sub_claim_keys is empty: name at least one claim (repo,context,…)".into());
    }
    for (i, k) in keys.iter().enumerate() {
        if k.is_empty() {
            return Err(format!(
                "sub_claim_keys has an empty key at position {}",
                i + 1
            ));
        }
        if !SUB_CLAIM_KEYS.contains(k) && !k.starts_with("repo_property_") {
            return Err(format!(
                "sub_claim_keys: '{k}' is not a claim GitHub can put in a subject (known: {})",
                SUB_CLAIM_KEYS.join(", ")
            ));
        }
        if keys[..i].contains(k) {
            return Err(format!("sub_claim_keys names '{k}' twice"));
        }
    }
    Ok(keys)
}

/// The `iss` of an issuer form (see [`GitHubIdentity::issuer_form`]).
pub fn issuer_for_form(form: &str, enterprise: Option<&str>) -> Result<String, String> {
    match form.split_once(':') {
        None if form == "enterprise" => match enterprise {
            Some(slug) if !slug.is_empty() => Ok(format!(
                "{}/{slug}",
                crate::provider::Provider::GitHub.production_issuer()
            )),
            _ => Err("issuer_form 'enterprise' needs the enterprise's slug (enterprise)".into()),
        },
        Some(("ghe.com", sub))
            if !sub.is_empty() && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Ok(format!("https://token.actions.{sub}.ghe.com"))
        }
        _ => Err(format!(
            "issuer_form '{form}': use 'enterprise' or 'ghe.com:SUBDOMAIN'"
        )),
    }
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
        ("repository_created", identity.repository_created.as_ref()),
        ("check_run_id", identity.check_run_id.as_ref()),
        ("enterprise", identity.enterprise.as_ref()),
        ("enterprise_id", identity.enterprise_id.as_ref()),
        ("issuer_form", identity.issuer_form.as_ref()),
        ("runner_environment", identity.runner_environment.as_ref()),
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
    /// What GitHub would refuse to configure: a bad subject template, date or issuer form.
    pub fn check(&self) -> Result<(), String> {
        if let Some(keys) = &self.sub_claim_keys {
            check_sub_claim_keys(keys)?;
        }
        if let Some(runner) = &self.runner_environment
            && !matches!(runner.as_str(), "github-hosted" | "self-hosted")
        {
            return Err(format!(
                "runner_environment '{runner}': GitHub says github-hosted or self-hosted"
            ));
        }
        if let Some(day) = &self.repository_created {
            time::Date::parse(
                day,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|e| format!("repository_created '{day}' is not a date (YYYY-MM-DD): {e}"))?;
        }
        if let Some(form) = &self.issuer_form {
            issuer_for_form(form, self.enterprise.as_deref())?;
        }
        Ok(())
    }

    /// Whether the subject takes the immutable form: as asked, else by creation date.
    pub fn immutable_sub(&self) -> bool {
        match self.sub_format.as_deref() {
            Some(format) => format == "immutable",
            // Dates in ISO form compare as text.
            None => self
                .repository_created
                .as_deref()
                .is_some_and(|day| day >= IMMUTABLE_SUB_FROM),
        }
    }

    /// The repository's owner and, for a reusable workflow, the called one's.
    pub fn owners(&self) -> Vec<&str> {
        let mut owners = vec![self.owner()];
        if let Some(called) = &self.job_workflow_ref {
            owners.push(called.split('/').next().unwrap_or(called));
        }
        owners
    }

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
        let claims = json!({
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
            "runner_environment": self.runner_environment.as_deref().unwrap_or("github-hosted"),
            "iss": ctx.issuer,
            "nbf": ctx.now - 5,
            "iat": ctx.now,
            "exp": ctx.now + ctx.lifetime,
        });
        let mut claims = super::claims::object(claims);
        if let Some(env) = &self.environment {
            claims.insert("environment".into(), Value::String(env.clone()));
        }
        let check_run = self
            .check_run_id
            .clone()
            .unwrap_or_else(|| ((ctx.now % 10_000_000_000) * 3 + 1).to_string());
        claims.insert("check_run_id".into(), Value::String(check_run));
        if let Some(slug) = &self.enterprise {
            claims.insert("enterprise".into(), Value::String(slug.clone()));
            let id = self
                .enterprise_id
                .clone()
                .unwrap_or_else(|| derived_id("enterprise", slug));
            claims.insert("enterprise_id".into(), Value::String(id));
        }
        if let Some(Ok(iss)) = self
            .issuer_form
            .as_deref()
            .map(|f| issuer_for_form(f, self.enterprise.as_deref()))
        {
            claims.insert("iss".into(), Value::String(iss));
        }
        // Checked by `check` before any token is built; an unchecked bad key is left out.
        let keys: Option<Vec<&str>> = self
            .sub_claim_keys
            .as_deref()
            .map(|k| check_sub_claim_keys(k).unwrap_or_default());
        let sub = subject(&claims, self.immutable_sub(), keys.as_deref());
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

#[cfg(test)]
mod late_2026 {
    use super::*;

    fn ctx() -> ClaimContext<'static> {
        ClaimContext::at("https://iss", "pypi", 1000, 300, "j1")
    }

    fn id() -> GitHubIdentity {
        GitHubIdentity {
            repository: "octo-org/demo".into(),
            repository_owner_id: Some("111".into()),
            repository_id: Some("222".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_creation_date_picks_the_subject_unless_the_format_is_given() {
        let cases = [
            (None, None, "repo:octo-org/demo:ref:refs/heads/main"),
            (
                Some("2026-07-14"),
                None,
                "repo:octo-org/demo:ref:refs/heads/main",
            ),
            (
                Some("2026-07-15"),
                None,
                "repo:octo-org@111/demo@222:ref:refs/heads/main",
            ),
            (
                Some("2026-11-30"),
                None,
                "repo:octo-org@111/demo@222:ref:refs/heads/main",
            ),
            (
                Some("2026-11-30"),
                Some("classic"),
                "repo:octo-org/demo:ref:refs/heads/main",
            ),
            (
                Some("2020-01-01"),
                Some("immutable"),
                "repo:octo-org@111/demo@222:ref:refs/heads/main",
            ),
        ];
        for (created, format, want) in cases {
            let id = GitHubIdentity {
                repository_created: created.map(str::to_owned),
                sub_format: format.map(str::to_owned),
                ..id()
            };
            assert!(id.check().is_ok());
            assert_eq!(id.claims(&ctx())["sub"], want, "{created:?} {format:?}");
        }
    }

    #[test]
    fn custom_subjects_escape_colons_and_keep_the_immutable_repo_segment() {
        let id = GitHubIdentity {
            environment: Some("prod:eu".into()),
            sub_claim_keys: Some("repo,context,job_workflow_ref".into()),
            ..id()
        };
        assert_eq!(
            id.claims(&ctx())["sub"],
            "repo:octo-org/demo:environment:prod%3Aeu:job_workflow_ref:octo-org/demo/.github/workflows/release.yml@refs/heads/main"
        );
        let id = GitHubIdentity {
            sub_claim_keys: Some("repository_owner_id,repository_visibility".into()),
            repository_created: Some("2026-08-01".into()),
            ..id
        };
        assert_eq!(
            id.claims(&ctx())["sub"],
            "repository_owner_id:111:repository_visibility:public"
        );
        let id = GitHubIdentity {
            sub_claim_keys: Some("repo,ref".into()),
            ..id
        };
        assert_eq!(
            id.claims(&ctx())["sub"],
            "repo:octo-org@111/demo@222:ref:refs/heads/main"
        );
    }

    #[test]
    fn malformed_templates_dates_and_issuer_forms_are_refused() {
        for (keys, words) in [
            ("", "empty"),
            ("repo,,context", "empty key at position 2"),
            ("repo,colour", "'colour' is not a claim"),
            ("repo,repo", "'repo' twice"),
        ] {
            let err = check_sub_claim_keys(keys).unwrap_err();
            assert!(err.contains(words), "{keys}: {err}");
        }
        assert!(check_sub_claim_keys("repo,repo_property_team").is_ok());
        let bad_date = GitHubIdentity {
            repository_created: Some("15/07/2026".into()),
            ..id()
        };
        assert!(bad_date.check().unwrap_err().contains("not a date"));
        for form in ["enterprise", "ghe.com:", "ghe.com:a/b", "gitea"] {
            let bad = GitHubIdentity {
                issuer_form: Some(form.into()),
                ..id()
            };
            assert!(bad.check().is_err(), "{form}");
        }
    }

    #[test]
    fn check_run_enterprise_and_other_issuers() {
        let plain = id().claims(&ctx());
        assert!(
            plain["check_run_id"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
        assert!(!plain.contains_key("enterprise"));
        assert_eq!(plain["iss"], "https://iss");
        let id = GitHubIdentity {
            enterprise: Some("octo-corp".into()),
            check_run_id: Some("42".into()),
            issuer_form: Some("enterprise".into()),
            ..id()
        };
        let c = id.claims(&ctx());
        assert_eq!(c["check_run_id"], "42");
        assert_eq!(c["enterprise"], "octo-corp");
        assert_eq!(c["enterprise_id"], derived_id("enterprise", "octo-corp"));
        assert_eq!(
            c["iss"],
            format!(
                "{}/octo-corp",
                crate::provider::Provider::GitHub.production_issuer()
            )
        );
        let ghe = GitHubIdentity {
            issuer_form: Some("ghe.com:octo".into()),
            ..id
        };
        assert_eq!(
            ghe.claims(&ctx())["iss"],
            "https://token.actions.octo.ghe.com"
        );
    }
}
