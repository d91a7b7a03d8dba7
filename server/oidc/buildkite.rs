//! Buildkite publisher rules, as warehouse#20515 (open, a preview here) has them:
//! organization and pipeline slugs exact, optional branch, tag and step key; the
//! immutable organization and pipeline ids are pinned on the first exchange that
//! carries them (trust on first use), and a pinned id must match from then on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{Evaluation, Verdict, claim_str, field};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildkiteConfig {
    pub organization_slug: String,
    pub pipeline_slug: String,
    #[serde(default)]
    pub branch: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub step_key: String,
    /// Pinned by the first successful exchange whose token carries it (or given).
    #[serde(default)]
    pub organization_id: String,
    #[serde(default)]
    pub pipeline_id: String,
}

impl BuildkiteConfig {
    pub fn from_input(map: &Map<String, Value>) -> Result<Self, String> {
        let c = Self {
            organization_slug: field(map, "organization_slug")?,
            pipeline_slug: field(map, "pipeline_slug")?,
            branch: field(map, "branch")?,
            tag: field(map, "tag")?,
            step_key: field(map, "step_key")?,
            organization_id: field(map, "organization_id")?,
            pipeline_id: field(map, "pipeline_id")?,
        };
        if c.organization_slug.is_empty() || c.pipeline_slug.is_empty() {
            return Err(
                "a Buildkite publisher needs 'organization_slug' and 'pipeline_slug'".into(),
            );
        }
        if !c.branch.is_empty() && !c.tag.is_empty() {
            return Err("a Buildkite publisher restricts to a branch or a tag, not both".into());
        }
        Ok(c)
    }

    pub fn describe(&self) -> String {
        let mut text = format!("{}/{}", self.organization_slug, self.pipeline_slug);
        for (what, value) in [
            ("branch", &self.branch),
            ("tag", &self.tag),
            ("step", &self.step_key),
        ] {
            if !value.is_empty() {
                text += &format!(" · {what} {value}");
            }
        }
        let pinned = !self.organization_id.is_empty() || !self.pipeline_id.is_empty();
        if pinned {
            text += " · ids pinned";
        }
        text
    }

    /// The ids to pin after an accepted exchange: those the token carries that the
    /// publisher does not have yet (`None`: nothing to pin).
    pub fn pins(&self, claims: &Map<String, Value>) -> Option<Self> {
        let mut pinned = self.clone();
        let mut changed = false;
        for (slot, claim) in [
            (&mut pinned.organization_id, "organization_id"),
            (&mut pinned.pipeline_id, "pipeline_id"),
        ] {
            if slot.is_empty()
                && let Some(id) = claim_str(claims, claim).filter(|id| !id.is_empty())
            {
                *slot = id.to_owned();
                changed = true;
            }
        }
        changed.then_some(pinned)
    }
}

/// An optional restriction: empty accepts any; otherwise the claim must be equal.
fn optional(
    claim: &'static str,
    expected: &str,
    actual: Option<&str>,
    rule: &'static str,
) -> Verdict {
    Verdict::check(
        claim,
        if expected.is_empty() {
            "(any)"
        } else {
            expected
        },
        actual,
        rule,
        expected.is_empty() || actual == Some(expected),
        match claim {
            "build_branch" => "Check failed for optional claim 'build_branch'",
            "build_tag" => "Check failed for optional claim 'build_tag'",
            _ => "Check failed for optional claim 'step_key'",
        },
    )
}

/// A pinned id: before pinning anything is accepted; after, the claim must be equal.
fn pinned(claim: &'static str, expected: &str, actual: Option<&str>) -> Verdict {
    Verdict::check(
        claim,
        if expected.is_empty() {
            "(not pinned yet)"
        } else {
            expected
        },
        actual,
        "equal once pinned (trust on first use)",
        expected.is_empty() || actual == Some(expected),
        match claim {
            "organization_id" => "The organization_id claim does not match the pinned organization",
            _ => "The pipeline_id claim does not match the pinned pipeline",
        },
    )
}

pub fn evaluate(c: &BuildkiteConfig, claims: &Map<String, Value>) -> Evaluation {
    let org = claim_str(claims, "organization_slug");
    let pipeline = claim_str(claims, "pipeline_slug");
    let verdicts = vec![
        Verdict::lookup(
            "organization_slug",
            &c.organization_slug,
            org,
            "equal",
            org == Some(c.organization_slug.as_str()),
        ),
        Verdict::lookup(
            "pipeline_slug",
            &c.pipeline_slug,
            pipeline,
            "equal",
            pipeline == Some(c.pipeline_slug.as_str()),
        ),
        optional(
            "build_branch",
            &c.branch,
            claim_str(claims, "build_branch"),
            "equal when the publisher names a branch",
        ),
        optional(
            "build_tag",
            &c.tag,
            claim_str(claims, "build_tag"),
            "equal when the publisher names a tag",
        ),
        optional(
            "step_key",
            &c.step_key,
            claim_str(claims, "step_key"),
            "equal when the publisher names a step",
        ),
        pinned(
            "organization_id",
            &c.organization_id,
            claim_str(claims, "organization_id"),
        ),
        pinned(
            "pipeline_id",
            &c.pipeline_id,
            claim_str(claims, "pipeline_id"),
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

    fn config(extra: Value) -> BuildkiteConfig {
        let mut map = json!({"organization_slug": "octo", "pipeline_slug": "release"});
        for (k, v) in extra.as_object().unwrap() {
            map[k] = v.clone();
        }
        BuildkiteConfig::from_input(map.as_object().unwrap()).unwrap()
    }

    #[test]
    fn slugs_restrictions_and_pins() {
        let claims = json!({"organization_slug": "octo", "pipeline_slug": "release", "build_branch": "main",
            "step_key": "publish", "organization_id": "org-1", "pipeline_id": "pipe-1"});
        let claims = claims.as_object().unwrap();
        let ok = |c: &BuildkiteConfig| evaluate(c, claims).verdicts.iter().all(|v| v.ok);
        assert!(ok(&config(json!({}))));
        assert!(ok(&config(
            json!({"branch": "main", "step_key": "publish"})
        )));
        assert!(!ok(&config(json!({"branch": "release"}))));
        assert!(!ok(&config(json!({"tag": "v1"}))));
        assert!(!ok(&config(json!({"organization_id": "org-2"}))));
        assert!(ok(&config(
            json!({"organization_id": "org-1", "pipeline_id": "pipe-1"})
        )));
        let fresh = config(json!({}));
        let pinned = fresh.pins(claims).unwrap();
        assert_eq!(
            (pinned.organization_id.as_str(), pinned.pipeline_id.as_str()),
            ("org-1", "pipe-1")
        );
        assert!(pinned.pins(claims).is_none());
        assert!(
            BuildkiteConfig::from_input(json!({"organization_slug": "o"}).as_object().unwrap())
                .is_err()
        );
        assert!(
            BuildkiteConfig::from_input(
                json!({"organization_slug": "o", "pipeline_slug": "p", "branch": "b", "tag": "t"})
                    .as_object()
                    .unwrap()
            )
            .is_err()
        );
    }
}
