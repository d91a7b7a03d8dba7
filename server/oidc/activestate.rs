//! ActiveState publisher rules (reference/warehouse.md §3): exact organization,
//! project and actor id; `sub` must start `org:<org>:project:<project>`; the builder
//! must be `pypi-publisher`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{Evaluation, Verdict, claim_str, field};
use crate::provider::{DEFAULT_ACTOR, derived_id};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveStateConfig {
    pub organization: String,
    pub activestate_project_name: String,
    /// The user name, for display; matching uses `actor_id`.
    pub actor: String,
    pub actor_id: String,
}

impl ActiveStateConfig {
    /// `actor_id` defaults to the id the fake issuer derives for `actor`.
    pub fn from_input(map: &Map<String, Value>) -> Result<Self, String> {
        let organization = field(map, "organization")?;
        let name = field(map, "activestate_project_name")?;
        if organization.is_empty() || name.is_empty() {
            return Err(
                "an ActiveState publisher needs 'organization' and 'activestate_project_name'"
                    .into(),
            );
        }
        let mut actor = field(map, "actor")?;
        if actor.is_empty() {
            actor = DEFAULT_ACTOR.into();
        }
        let mut actor_id = field(map, "actor_id")?;
        if actor_id.is_empty() {
            actor_id = derived_id("actor", &actor);
        }
        Ok(Self {
            organization,
            activestate_project_name: name,
            actor,
            actor_id,
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "{}/{} · actor {} ({})",
            self.organization, self.activestate_project_name, self.actor, self.actor_id
        )
    }
}

/// Warehouse's subject rule, with its messages.
fn check_sub(sub: Option<&str>, expected: &str) -> Result<(), &'static str> {
    match sub {
        None | Some("") => Err("Missing 'subject' claim"),
        Some(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() < 4 {
                Err("Invalid 'subject' claim. Wrong format")
            } else if parts[..4].join(":") != expected {
                Err("Invalid 'subject' claim")
            } else {
                Ok(())
            }
        }
    }
}

pub fn evaluate(config: &ActiveStateConfig, claims: &Map<String, Value>) -> Evaluation {
    let org = claim_str(claims, "organization");
    let project = claim_str(claims, "project");
    let actor_id = claim_str(claims, "actor_id");
    let builder = claim_str(claims, "builder");
    let expected_sub = format!(
        "org:{}:project:{}",
        config.organization, config.activestate_project_name
    );
    let sub = check_sub(claim_str(claims, "sub"), &expected_sub);
    let v = vec![
        Verdict::lookup(
            "organization",
            &config.organization,
            org,
            "equal",
            org == Some(config.organization.as_str()),
        ),
        Verdict::lookup(
            "project",
            &config.activestate_project_name,
            project,
            "equal to activestate_project_name",
            project == Some(config.activestate_project_name.as_str()),
        ),
        Verdict::lookup(
            "actor_id",
            &config.actor_id,
            actor_id,
            "equal",
            actor_id == Some(config.actor_id.as_str()),
        ),
        Verdict::check(
            "sub",
            &format!("{expected_sub}[:…]"),
            claim_str(claims, "sub"),
            "first four ':' parts equal",
            sub.is_ok(),
            sub.err().unwrap_or(""),
        ),
        Verdict::check(
            "builder",
            "pypi-publisher",
            builder,
            "equal",
            builder == Some("pypi-publisher"),
            "Check failed for required claim 'builder'",
        ),
    ];
    Evaluation {
        verdicts: v,
        specific: false,
        wildcard: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_rule_has_warehouses_three_messages() {
        let e = "org:o:project:p";
        assert_eq!(check_sub(Some("org:o:project:p:extra"), e), Ok(()));
        assert_eq!(check_sub(Some(""), e), Err("Missing 'subject' claim"));
        assert_eq!(
            check_sub(Some("org:o:project"), e),
            Err("Invalid 'subject' claim. Wrong format")
        );
        assert_eq!(
            check_sub(Some("org:o:project:q"), e),
            Err("Invalid 'subject' claim")
        );
    }
}
