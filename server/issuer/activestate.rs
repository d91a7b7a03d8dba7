//! ActiveState Platform-shaped tokens (a build on the platform publishing to PyPI).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::provider::{DEFAULT_ACTOR, derived_id};

use super::claims::ClaimContext;

#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct ActiveStateIdentity {
    pub organization: String,
    /// The ActiveState project name.
    pub project: String,
    /// The platform user the build runs as [default: `builder-bot`].
    #[serde(default)]
    pub actor: Option<String>,
    /// [default: derived from the actor name, as publishers do].
    #[serde(default)]
    pub actor_id: Option<String>,
}

impl ActiveStateIdentity {
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let actor = self.actor.as_deref().unwrap_or(DEFAULT_ACTOR);
        let claims = json!({
            "sub": format!("org:{}:project:{}", self.organization, self.project),
            "organization": self.organization,
            "organization_id": derived_id("organization", &self.organization),
            "project": self.project,
            "project_id": derived_id("project", &self.project),
            "project_path": format!("{}/{}", self.organization, self.project),
            "project_visibility": "public",
            "actor": actor,
            "actor_id": self.actor_id.clone().unwrap_or_else(|| derived_id("actor", actor)),
            "builder": "pypi-publisher",
            "ingredient": self.project,
            "artifact_id": derived_id("artifact", &format!("{}/{}", self.organization, self.project)),
            "jti": ctx.jti,
            "iss": ctx.issuer,
            "aud": ctx.audience,
            "iat": ctx.now,
            "nbf": ctx.now - 5,
            "exp": ctx.now + ctx.lifetime,
        });
        super::claims::object(claims)
    }
}
