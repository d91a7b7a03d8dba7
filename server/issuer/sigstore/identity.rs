//! What a certificate says about who signed: derived from the OIDC token's claims the
//! way Fulcio derives it for GitHub, GitLab and Google (its `config/identity` and
//! `pkg/identity`). The certificate names each provider's real issuer, as the
//! verification policies PyPI applies expect, whatever host the fake issuer runs on.

use serde_json::{Map, Value};

use crate::provider::Provider;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    Uri(String),
    Email(String),
}

/// The SAN and Sigstore extension values (by their number under `1.3.6.1.4.1.57264.1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    pub san: San,
    /// `.1`-`.6`, raw bytes.
    pub raw: Vec<(u32, String)>,
    /// `.8` on, DER UTF8String; empty values are left out, as Fulcio does.
    pub utf8: Vec<(u32, String)>,
}

fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> &'a str {
    claims.get(name).and_then(Value::as_str).unwrap_or("")
}

fn required<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match claim(claims, name) {
        "" => Err(format!("the token has no '{name}' claim")),
        v => Ok(v),
    }
}

fn keep(pairs: Vec<(u32, String)>) -> Vec<(u32, String)> {
    pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

pub fn derive(provider: Provider, claims: &Map<String, Value>) -> Result<CertIdentity, String> {
    match provider {
        Provider::GitHub => github(claims),
        Provider::GitLab => gitlab(claims),
        Provider::Google => google(claims),
        Provider::ActiveState => Err(
            "Fulcio issues no certificates for ActiveState tokens (PyPI accepts no attestations from ActiveState publishers)".into(),
        ),
        other => Err(format!(
            "Fulcio issues no certificates for {} tokens here (its pull request defines no attestation identity)",
            other.display()
        )),
    }
}

fn github(c: &Map<String, Value>) -> Result<CertIdentity, String> {
    let iss = Provider::GitHub.production_issuer();
    let gh = "https://github.com";
    let repository = required(c, "repository")?;
    let job_workflow_ref = required(c, "job_workflow_ref")?;
    let workflow_ref = required(c, "workflow_ref")?;
    let signer = format!("{gh}/{job_workflow_ref}");
    Ok(CertIdentity {
        san: San::Uri(signer.clone()),
        raw: keep(vec![
            (1, iss.to_owned()),
            (2, claim(c, "event_name").to_owned()),
            (3, claim(c, "sha").to_owned()),
            (4, claim(c, "workflow").to_owned()),
            (5, repository.to_owned()),
            (6, claim(c, "ref").to_owned()),
        ]),
        utf8: keep(vec![
            (8, iss.to_owned()),
            (9, signer),
            (10, claim(c, "job_workflow_sha").to_owned()),
            (11, claim(c, "runner_environment").to_owned()),
            (12, format!("{gh}/{repository}")),
            (13, claim(c, "sha").to_owned()),
            (14, claim(c, "ref").to_owned()),
            (15, claim(c, "repository_id").to_owned()),
            (16, format!("{gh}/{}", claim(c, "repository_owner"))),
            (17, claim(c, "repository_owner_id").to_owned()),
            (18, format!("{gh}/{workflow_ref}")),
            (19, claim(c, "workflow_sha").to_owned()),
            (20, claim(c, "event_name").to_owned()),
            (
                21,
                format!(
                    "{gh}/{repository}/actions/runs/{}/attempts/{}",
                    claim(c, "run_id"),
                    claim(c, "run_attempt")
                ),
            ),
            (22, claim(c, "repository_visibility").to_owned()),
            (23, claim(c, "environment").to_owned()),
            (24, claim(c, "sub").to_owned()),
        ]),
    })
}

fn gitlab(c: &Map<String, Value>) -> Result<CertIdentity, String> {
    let iss = Provider::GitLab.production_issuer();
    let project_path = required(c, "project_path")?;
    let config_ref = required(c, "ci_config_ref_uri")?;
    // `<host>/<project>//<file>@<ref>`: keep what follows the host, on gitlab.com.
    let marker = format!("{project_path}//");
    let rest = config_ref
        .find(&marker)
        .map(|at| &config_ref[at..])
        .ok_or_else(|| format!("ci_config_ref_uri '{config_ref}' does not name {project_path}"))?;
    let config_uri = format!("{iss}/{rest}");
    let git_ref = claim(c, "ref");
    let full_ref = match claim(c, "ref_type") {
        "branch" => format!("refs/heads/{git_ref}"),
        "tag" => format!("refs/tags/{git_ref}"),
        _ => String::new(),
    };
    Ok(CertIdentity {
        san: San::Uri(config_uri.clone()),
        raw: vec![(1, iss.to_owned())],
        utf8: keep(vec![
            (8, iss.to_owned()),
            (9, config_uri.clone()),
            (10, claim(c, "ci_config_sha").to_owned()),
            (11, claim(c, "runner_environment").to_owned()),
            (12, format!("{iss}/{project_path}")),
            (13, claim(c, "sha").to_owned()),
            (14, full_ref),
            (15, claim(c, "project_id").to_owned()),
            (16, format!("{iss}/{}", claim(c, "namespace_path"))),
            (17, claim(c, "namespace_id").to_owned()),
            (18, config_uri),
            (19, claim(c, "ci_config_sha").to_owned()),
            (20, claim(c, "pipeline_source").to_owned()),
            (
                21,
                format!("{iss}/{project_path}/-/jobs/{}", claim(c, "job_id")),
            ),
            (22, claim(c, "project_visibility").to_owned()),
            (23, claim(c, "environment").to_owned()),
            (24, claim(c, "sub").to_owned()),
        ]),
    })
}

fn google(c: &Map<String, Value>) -> Result<CertIdentity, String> {
    let iss = Provider::Google.production_issuer();
    let email = required(c, "email")?;
    // Fulcio requires a verified e-mail address.
    if c.get("email_verified") != Some(&Value::Bool(true)) {
        return Err("the token's email_verified is not true".into());
    }
    Ok(CertIdentity {
        san: San::Email(email.to_owned()),
        raw: vec![(1, iss.to_owned())],
        utf8: keep(vec![(8, iss.to_owned()), (24, claim(c, "sub").to_owned())]),
    })
}

impl CertIdentity {
    /// The same identity as another workflow file of the repository would have (the
    /// `other-identity` fault: a certificate PyPI must not accept for this publisher).
    pub fn with_other_workflow(mut self, file: &str) -> Self {
        let swap = |value: &str| match value.split_once("/.github/workflows/") {
            Some((repo, rest)) => match rest.split_once('@') {
                Some((_, at)) => format!("{repo}/.github/workflows/{file}@{at}"),
                None => value.to_owned(),
            },
            None => match value.split_once("//") {
                Some((head, rest)) if value.starts_with("https://") && rest.contains('@') => {
                    let at = rest.split_once('@').map_or("", |(_, a)| a);
                    format!("{head}//{file}@{at}")
                }
                _ => value.to_owned(),
            },
        };
        self.san = match self.san {
            San::Uri(uri) => San::Uri(swap(&uri)),
            email => email,
        };
        for (n, value) in &mut self.utf8 {
            if *n == 9 || *n == 18 {
                *value = swap(value);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn github_claims_become_fulcios_extensions() {
        let c = map(json!({
            "repository": "octo/demo", "repository_owner": "octo", "repository_owner_id": "7",
            "repository_id": "9", "workflow_ref": "octo/demo/.github/workflows/release.yml@refs/heads/main",
            "job_workflow_ref": "octo/demo/.github/workflows/release.yml@refs/heads/main",
            "sha": "abc", "ref": "refs/heads/main", "event_name": "push", "run_id": "5", "run_attempt": "1",
            "environment": "", "sub": "repo:octo/demo:ref:refs/heads/main"
        }));
        let id = derive(Provider::GitHub, &c).unwrap();
        assert_eq!(
            id.san,
            San::Uri(
                "https://github.com/octo/demo/.github/workflows/release.yml@refs/heads/main".into()
            )
        );
        let get = |n| {
            id.utf8
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(8), Some("https://token.actions.githubusercontent.com"));
        assert_eq!(get(12), Some("https://github.com/octo/demo"));
        assert_eq!(
            get(21),
            Some("https://github.com/octo/demo/actions/runs/5/attempts/1")
        );
        assert_eq!(get(23), None, "empty values are left out");
        let other = id.with_other_workflow("other.yml");
        assert_eq!(
            other.utf8.iter().find(|(k, _)| *k == 18).unwrap().1,
            "https://github.com/octo/demo/.github/workflows/other.yml@refs/heads/main"
        );
    }

    #[test]
    fn gitlab_uses_gitlab_com_and_full_refs() {
        let c = map(json!({
            "project_path": "grp/sub/proj", "namespace_path": "grp/sub", "ref": "main", "ref_type": "branch",
            "ci_config_ref_uri": "127.0.0.1:9/issuer/gitlab/grp/sub/proj//.gitlab-ci.yml@refs/heads/main",
            "sha": "abc", "job_id": "3"
        }));
        let id = derive(Provider::GitLab, &c).unwrap();
        assert_eq!(
            id.san,
            San::Uri("https://gitlab.com/grp/sub/proj//.gitlab-ci.yml@refs/heads/main".into())
        );
        let get = |n| {
            id.utf8
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(14), Some("refs/heads/main"));
        assert_eq!(get(12), Some("https://gitlab.com/grp/sub/proj"));
    }

    #[test]
    fn google_needs_a_verified_email_and_activestate_is_refused() {
        let c = map(
            json!({"email": "sa@p.iam.gserviceaccount.com", "email_verified": true, "sub": "1"}),
        );
        assert_eq!(
            derive(Provider::Google, &c).unwrap().san,
            San::Email("sa@p.iam.gserviceaccount.com".into())
        );
        let unverified = map(json!({"email": "x@y", "email_verified": "true"}));
        assert!(derive(Provider::Google, &unverified).is_err());
        assert!(
            derive(Provider::ActiveState, &Map::new())
                .unwrap_err()
                .contains("ActiveState")
        );
    }
}
