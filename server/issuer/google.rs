//! Google-shaped ID tokens (a service account's identity, as the metadata server or
//! IAM's generateIdToken returns them).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::provider::derived_id;

use super::claims::ClaimContext;

#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct GoogleIdentity {
    /// The service account's e-mail address.
    pub email: String,
    /// Numeric subject [default: derived from the e-mail address].
    #[serde(default)]
    pub sub: Option<String>,
}

impl GoogleIdentity {
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let sub = self
            .sub
            .clone()
            .unwrap_or_else(|| format!("1{}", derived_id("google", &self.email)));
        // Google's ID tokens carry no jti; PyPI does not ask for one.
        let claims = json!({
            "aud": ctx.audience,
            "azp": sub,
            "email": self.email,
            "email_verified": true,
            "exp": ctx.now + ctx.lifetime,
            "iat": ctx.now,
            "iss": ctx.issuer,
            "sub": sub,
        });
        super::claims::object(claims)
    }
}
