//! Google publisher rules (reference/warehouse.md §3): exact e-mail, `email_verified`
//! exactly `true`, and an optional exact `sub`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{Evaluation, Verdict, claim_str, field};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleConfig {
    pub email: String,
    /// Empty means any subject.
    pub sub: String,
}

impl GoogleConfig {
    pub fn from_input(map: &Map<String, Value>) -> Result<Self, String> {
        let email = field(map, "email")?;
        if !email.contains('@') {
            return Err(format!(
                "a Google publisher needs the service account's 'email' (got '{email}')"
            ));
        }
        Ok(Self {
            email,
            sub: field(map, "sub")?,
        })
    }

    pub fn describe(&self) -> String {
        if self.sub.is_empty() {
            format!("{} · any subject", self.email)
        } else {
            format!("{} · subject '{}'", self.email, self.sub)
        }
    }
}

pub fn evaluate(config: &GoogleConfig, claims: &Map<String, Value>) -> Evaluation {
    let email = claim_str(claims, "email");
    let sub = claim_str(claims, "sub");
    let verified = claims.get("email_verified");
    let shown = verified.map(Value::to_string);
    let v = vec![
        Verdict::lookup(
            "email",
            &config.email,
            email,
            "equal",
            email == Some(config.email.as_str()),
        ),
        Verdict::check(
            "email_verified",
            "true",
            shown.as_deref(),
            "exactly the boolean true",
            verified == Some(&Value::Bool(true)),
            "Check failed for required claim 'email_verified'",
        ),
        Verdict::check(
            "sub",
            if config.sub.is_empty() {
                "(any)"
            } else {
                &config.sub
            },
            sub,
            "equal; empty publisher sub accepts any",
            config.sub.is_empty() || sub.is_some_and(|s| !s.is_empty() && s == config.sub),
            "Check failed for optional claim 'sub'",
        ),
    ];
    Evaluation {
        verdicts: v,
        specific: !config.sub.is_empty() && sub == Some(config.sub.as_str()),
        wildcard: config.sub.is_empty(),
    }
}
