//! GitLab CI-shaped claims. GitLab hands the job its token in an environment variable
//! (`id_tokens:` in `.gitlab-ci.yml`), so there is no request protocol to imitate.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::provider::{DEFAULT_CI_FILE, DEFAULT_REF_PATH, derived_id, derived_sha, issuer_host};

use super::claims::ClaimContext;

/// Who the token says is running. Everything but `project_path` has a default.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct GitLabIdentity {
    /// `NAMESPACE/PROJECT`; the namespace may contain `/` (subgroups).
    pub project_path: String,
    /// Path of the CI file in the repository.
    #[serde(default)]
    pub ci_file: Option<String>,
    #[serde(default)]
    pub ref_path: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub user_login: Option<String>,
    /// What started the pipeline (`push`, `merge_request_event`, `web`, …) [push].
    #[serde(default)]
    pub pipeline_source: Option<String>,
    /// A merge-request pipeline from this fork (`NAMESPACE/PROJECT`), run in
    /// `project_path`: since GitLab 18.2.2 `project_*` and `namespace_*` name the fork,
    /// `job_project_*`/`job_namespace_*` the project the job runs in, and
    /// `source_project_*`/`source_namespace_*` the merge request's source (the fork).
    #[serde(default)]
    pub fork_project_path: Option<String>,
    /// The project's `ci_id_token_sub_claim_components`, comma-separated
    /// [default: project_path,ref_type,ref].
    #[serde(default)]
    pub sub_components: Option<String>,
    /// The job's timeout in seconds: GitLab's token lives that long [default: 5 minutes].
    #[serde(default)]
    pub job_timeout: Option<i64>,
}

/// What `ci_id_token_sub_claim_components` may hold after its first, `project_path`.
pub const SUB_COMPONENTS: [&str; 4] = [
    "ref_type",
    "ref",
    "source_project_path",
    "source_namespace_path",
];

/// Check a project's `sub` components: `project_path` first, then known ones, none twice.
pub fn check_sub_components(components: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = components.split(',').map(str::trim).collect();
    if parts.first() != Some(&"project_path") {
        return Err(format!(
            "sub_components '{components}': the first component must be project_path"
        ));
    }
    for (i, part) in parts.iter().enumerate().skip(1) {
        if !SUB_COMPONENTS.contains(part) {
            return Err(format!(
                "sub_components: '{part}' is not a component GitLab accepts (project_path, then {})",
                SUB_COMPONENTS.join(", ")
            ));
        }
        if parts[..i].contains(part) {
            return Err(format!("sub_components names '{part}' twice"));
        }
    }
    Ok(parts)
}

/// `namespace_*` and `project_*` claims for a project path, under a prefix.
fn project_claims(map: &mut Map<String, Value>, prefix: &str, path: &str) {
    let namespace = path.rsplit_once('/').map(|(n, _)| n).unwrap_or("");
    map.insert(
        format!("{prefix}namespace_id"),
        derived_id("namespace", namespace).into(),
    );
    map.insert(format!("{prefix}namespace_path"), namespace.into());
    map.insert(
        format!("{prefix}project_id"),
        derived_id("project", path).into(),
    );
    map.insert(format!("{prefix}project_path"), path.into());
}

impl GitLabIdentity {
    /// What GitLab would refuse to configure.
    pub fn check(&self) -> Result<(), String> {
        if let Some(c) = &self.sub_components {
            check_sub_components(c)?;
        }
        if let Some(fork) = &self.fork_project_path
            && !fork.contains('/')
        {
            return Err(format!(
                "fork_project_path '{fork}' must be NAMESPACE/PROJECT"
            ));
        }
        if self.job_timeout.is_some_and(|t| t < 1) {
            return Err("job_timeout must be a positive number of seconds".into());
        }
        Ok(())
    }

    /// The full GitLab claim set. `ci_config_ref_uri` starts with the issuer's host and
    /// path, as GitLab's does (`gitlab.com/…` for `https://gitlab.com`). Long because
    /// GitLab's claims are many, listed as GitLab documents them.
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let path = &self.project_path;
        let namespace = path.rsplit_once('/').map(|(n, _)| n).unwrap_or("");
        let ci_file = self.ci_file.as_deref().unwrap_or(DEFAULT_CI_FILE);
        let ref_path = self.ref_path.as_deref().unwrap_or(DEFAULT_REF_PATH);
        let (ref_type, git_ref) = match ref_path.strip_prefix("refs/tags/") {
            Some(tag) => ("tag", tag),
            None => (
                "branch",
                ref_path.strip_prefix("refs/heads/").unwrap_or(ref_path),
            ),
        };
        let sha = self
            .sha
            .clone()
            .unwrap_or_else(|| derived_sha(path, ref_path));
        let host = issuer_host(ctx.issuer).to_owned();
        let user = self.user_login.as_deref().unwrap_or("octo-user");
        let mut claims = json!({
            "namespace_id": derived_id("namespace", namespace),
            "namespace_path": namespace,
            "project_id": derived_id("project", path),
            "project_path": path,
            "user_id": derived_id("user", user),
            "user_login": user,
            "user_email": format!("{user}@example.invalid"),
            "user_access_level": "maintainer",
            "pipeline_id": (ctx.now % 1_000_000_000).to_string(),
            "pipeline_source": self.pipeline_source.as_deref().unwrap_or("push"),
            "job_id": (ctx.now % 1_000_000_000 + 1).to_string(),
            "ref": git_ref,
            "ref_type": ref_type,
            "ref_path": ref_path,
            "ref_protected": "true",
            "runner_id": 1,
            "runner_environment": "gitlab-hosted",
            "sha": sha,
            "project_visibility": "public",
            "ci_config_ref_uri": format!("{host}/{path}//{ci_file}@{ref_path}"),
            "ci_config_sha": sha,
            "jti": ctx.jti,
            "iss": ctx.issuer,
            "iat": ctx.now,
            "nbf": ctx.now - 5,
            "exp": ctx.now + ctx.lifetime,
            "sub": format!("project_path:{path}:ref_type:{ref_type}:ref:{git_ref}"),
            "aud": ctx.audience,
        });
        if let (Some(env), Some(map)) = (&self.environment, claims.as_object_mut()) {
            map.insert("environment".into(), Value::String(env.clone()));
            map.insert("environment_protected".into(), "false".into());
            map.insert("deployment_tier".into(), "production".into());
            map.insert("environment_action".into(), "start".into());
        }
        let mut claims = super::claims::object(claims);
        // Where the job runs, always (GitLab 18.2.2); the pipeline's code comes from the
        // fork in a fork's merge-request pipeline, and `project_*` name it.
        project_claims(&mut claims, "job_", path);
        let source = self.fork_project_path.as_deref().unwrap_or(path);
        if let Some(fork) = &self.fork_project_path {
            project_claims(&mut claims, "", fork);
            claims.insert(
                "ci_config_ref_uri".into(),
                format!("{host}/{fork}//{ci_file}@{ref_path}").into(),
            );
            claims.insert("pipeline_source".into(), "merge_request_event".into());
        }
        if claims["pipeline_source"] == "merge_request_event" {
            project_claims(&mut claims, "source_", source);
        }
        let components = self
            .sub_components
            .as_deref()
            .map(|c| check_sub_components(c).unwrap_or_default())
            .unwrap_or_else(|| vec!["project_path", "ref_type", "ref"]);
        let sub = components
            .iter()
            .map(|c| {
                let v = claims.get(*c).and_then(Value::as_str).unwrap_or("");
                format!("{c}:{v}")
            })
            .collect::<Vec<_>>()
            .join(":");
        claims.insert("sub".into(), sub.into());
        claims
    }
}

/// The variable GitLab jobs (and uv and `id`) use for a token with this audience:
/// upper-cased, every non-alphanumeric character replaced by `_`, then `_ID_TOKEN`.
pub fn token_variable(audience: &str) -> String {
    let name: String = audience
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_ID_TOKEN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_have_gitlabs_shape() {
        let id = GitLabIdentity {
            project_path: "octo-group/sub/demo".into(),
            ref_path: Some("refs/tags/v1.2.3".into()),
            environment: Some("pypi".into()),
            ..Default::default()
        };
        let c = id.claims(&ClaimContext::at(
            "https://gitlab.example",
            "pypi",
            1000,
            300,
            "j",
        ));
        assert_eq!(c["namespace_path"], "octo-group/sub");
        assert_eq!(
            c["ci_config_ref_uri"],
            "gitlab.example/octo-group/sub/demo//.gitlab-ci.yml@refs/tags/v1.2.3"
        );
        assert_eq!(
            c["sub"],
            "project_path:octo-group/sub/demo:ref_type:tag:ref:v1.2.3"
        );
        assert_eq!(c["environment"], "pypi");
        assert_eq!(c["runner_id"], 1);
    }

    #[test]
    fn variable_name_follows_the_audience() {
        assert_eq!(token_variable("pypi"), "PYPI_ID_TOKEN");
        assert_eq!(token_variable("mock-pypi"), "MOCK_PYPI_ID_TOKEN");
    }
}

#[cfg(test)]
mod late_2026 {
    use super::*;

    fn ctx() -> ClaimContext<'static> {
        ClaimContext::at("https://gitlab.example", "pypi", 1000, 300, "j")
    }

    #[test]
    fn a_forks_merge_request_pipeline_names_the_fork_in_project_claims() {
        let id = GitLabIdentity {
            project_path: "octo-group/demo".into(),
            fork_project_path: Some("mallory/demo".into()),
            ..Default::default()
        };
        let c = id.claims(&ctx());
        for (claim, want) in [
            ("project_path", "mallory/demo"),
            ("namespace_path", "mallory"),
            ("job_project_path", "octo-group/demo"),
            ("job_namespace_path", "octo-group"),
            ("source_project_path", "mallory/demo"),
            ("source_namespace_path", "mallory"),
            ("pipeline_source", "merge_request_event"),
            (
                "ci_config_ref_uri",
                "gitlab.example/mallory/demo//.gitlab-ci.yml@refs/heads/main",
            ),
            ("sub", "project_path:mallory/demo:ref_type:branch:ref:main"),
        ] {
            assert_eq!(c[claim], want, "{claim}");
        }
        assert_eq!(c["project_id"], derived_id("project", "mallory/demo"));
        assert_eq!(
            c["job_project_id"],
            derived_id("project", "octo-group/demo")
        );
    }

    #[test]
    fn job_claims_always_and_source_claims_on_merge_requests() {
        let push = GitLabIdentity {
            project_path: "octo-group/demo".into(),
            ..Default::default()
        };
        let c = push.claims(&ctx());
        assert_eq!(c["job_project_path"], "octo-group/demo");
        assert!(!c.contains_key("source_project_path"));
        let mr = GitLabIdentity {
            pipeline_source: Some("merge_request_event".into()),
            ..push
        };
        assert_eq!(mr.claims(&ctx())["source_project_path"], "octo-group/demo");
    }

    #[test]
    fn sub_components_build_the_subject_and_bad_ones_are_refused() {
        for (components, want) in [
            ("project_path,ref", "project_path:octo-group/demo:ref:main"),
            (
                "project_path,ref,ref_type",
                "project_path:octo-group/demo:ref:main:ref_type:branch",
            ),
            ("project_path", "project_path:octo-group/demo"),
        ] {
            let id = GitLabIdentity {
                project_path: "octo-group/demo".into(),
                sub_components: Some(components.into()),
                ..Default::default()
            };
            assert!(id.check().is_ok(), "{components}");
            assert_eq!(id.claims(&ctx())["sub"], want, "{components}");
        }
        for (components, words) in [
            ("ref,project_path", "first component must be project_path"),
            ("project_path,branch", "'branch' is not a component"),
            ("project_path,ref,ref", "'ref' twice"),
            ("", "first component"),
        ] {
            let err = check_sub_components(components).unwrap_err();
            assert!(err.contains(words), "{components}: {err}");
        }
        let bad_fork = GitLabIdentity {
            project_path: "a/b".into(),
            fork_project_path: Some("mallory".into()),
            ..Default::default()
        };
        assert!(bad_fork.check().is_err());
        let bad_timeout = GitLabIdentity {
            project_path: "a/b".into(),
            job_timeout: Some(0),
            ..Default::default()
        };
        assert!(bad_timeout.check().is_err());
    }
}
