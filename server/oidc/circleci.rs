//! CircleCI publisher rules, as warehouse#19349 (open, a preview here) has them: the
//! organization, project and pipeline-definition ids exact; `ssh-rerun` must be false
//! ("we must reject any publish where the ssh-rerun claim is true"); optional context
//! id (in `context-ids`), VCS ref and origin.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{Evaluation, Verdict, claim_str, field};

/// CircleCI's claims carry its domain as a prefix.
pub const PREFIX: &str = "oidc.circleci.com/";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleCiConfig {
    pub org_id: String,
    pub project_id: String,
    pub pipeline_definition_id: String,
    #[serde(default)]
    pub context_id: String,
    #[serde(default)]
    pub vcs_ref: String,
    #[serde(default)]
    pub vcs_origin: String,
}

impl CircleCiConfig {
    pub fn from_input(map: &Map<String, Value>) -> Result<Self, String> {
        let c = Self {
            org_id: field(map, "org_id")?,
            project_id: field(map, "project_id")?,
            pipeline_definition_id: field(map, "pipeline_definition_id")?,
            context_id: field(map, "context_id")?,
            vcs_ref: field(map, "vcs_ref")?,
            vcs_origin: field(map, "vcs_origin")?,
        };
        if c.org_id.is_empty() || c.project_id.is_empty() || c.pipeline_definition_id.is_empty() {
            return Err(
                "a CircleCI publisher needs 'org_id', 'project_id' and 'pipeline_definition_id'"
                    .into(),
            );
        }
        Ok(c)
    }

    pub fn describe(&self) -> String {
        let mut text = format!(
            "org {} · project {} · pipeline {}",
            self.org_id, self.project_id, self.pipeline_definition_id
        );
        if !self.context_id.is_empty() {
            text += &format!(" · context {}", self.context_id);
        }
        text
    }
}

fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claim_str(claims, &format!("{PREFIX}{name}"))
}

/// The publisher's rules over a token's claims. Long because it is a table: one
/// verdict per claim PyPI's pull request checks, in its order.
pub fn evaluate(c: &CircleCiConfig, claims: &Map<String, Value>) -> Evaluation {
    let org = claim(claims, "org-id");
    let project = claim(claims, "project-id");
    let pipeline = claim(claims, "pipeline-definition-id");
    let ssh = claims.get(&format!("{PREFIX}ssh-rerun"));
    let ssh_text = ssh.map(Value::to_string);
    let contexts: Vec<&str> = claims
        .get(&format!("{PREFIX}context-ids"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let contexts_text = format!("[{}]", contexts.join(", "));
    let optional = |name: &'static str, expected: &str, failure: &'static str| {
        let actual = claim(claims, name);
        Verdict::check(
            match name {
                "vcs-ref" => "oidc.circleci.com/vcs-ref",
                _ => "oidc.circleci.com/vcs-origin",
            },
            if expected.is_empty() {
                "(any)"
            } else {
                expected
            },
            actual,
            "equal when the publisher names one",
            expected.is_empty() || actual == Some(expected),
            failure,
        )
    };
    let verdicts = vec![
        Verdict::lookup(
            "oidc.circleci.com/org-id",
            &c.org_id,
            org,
            "equal",
            org == Some(c.org_id.as_str()),
        ),
        Verdict::lookup(
            "oidc.circleci.com/project-id",
            &c.project_id,
            project,
            "equal",
            project == Some(c.project_id.as_str()),
        ),
        Verdict::lookup(
            "oidc.circleci.com/pipeline-definition-id",
            &c.pipeline_definition_id,
            pipeline,
            "equal",
            pipeline == Some(c.pipeline_definition_id.as_str()),
        ),
        Verdict::check(
            "oidc.circleci.com/ssh-rerun",
            "false",
            ssh_text.as_deref(),
            "false: a job re-run with SSH never publishes",
            ssh == Some(&Value::Bool(false)),
            "The ssh-rerun claim is not false: a job re-run with SSH cannot publish",
        ),
        Verdict::check(
            "oidc.circleci.com/context-ids",
            if c.context_id.is_empty() {
                "(any)"
            } else {
                &c.context_id
            },
            Some(contexts_text.as_str()),
            "contains the publisher's context id, when it names one",
            c.context_id.is_empty() || contexts.contains(&c.context_id.as_str()),
            "Check failed for optional claim 'context-ids'",
        ),
        optional(
            "vcs-ref",
            &c.vcs_ref,
            "Check failed for optional claim 'vcs-ref'",
        ),
        optional(
            "vcs-origin",
            &c.vcs_origin,
            "Check failed for optional claim 'vcs-origin'",
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
    fn ids_ssh_rerun_and_contexts() {
        let c = CircleCiConfig::from_input(
            json!({"org_id": "o", "project_id": "p", "pipeline_definition_id": "d"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let claims = |ssh: Value, contexts: Value| {
            json!({"oidc.circleci.com/org-id": "o", "oidc.circleci.com/project-id": "p",
                   "oidc.circleci.com/pipeline-definition-id": "d", "oidc.circleci.com/ssh-rerun": ssh,
                   "oidc.circleci.com/context-ids": contexts})
        };
        let ok = |c: &CircleCiConfig, v: Value| {
            evaluate(c, v.as_object().unwrap())
                .verdicts
                .iter()
                .all(|v| v.ok)
        };
        assert!(ok(&c, claims(json!(false), json!([]))));
        assert!(!ok(&c, claims(json!(true), json!([]))));
        assert!(!ok(&c, claims(json!("false"), json!([]))));
        let with_context = CircleCiConfig {
            context_id: "ctx-1".into(),
            ..c.clone()
        };
        assert!(ok(
            &with_context,
            claims(json!(false), json!(["ctx-0", "ctx-1"]))
        ));
        assert!(!ok(&with_context, claims(json!(false), json!(["ctx-0"]))));
        assert!(CircleCiConfig::from_input(json!({"org_id": "o"}).as_object().unwrap()).is_err());
    }
}
