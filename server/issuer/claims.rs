//! What every provider's claim set is built from besides its identity: who signs, for
//! whom, when and for how long, and the token's id.

use serde_json::{Map, Value};

/// The token-wide facts a provider's identity turns into claims.
#[derive(Clone, Copy, Debug)]
pub struct ClaimContext<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `aud`.
    pub audience: &'a str,
    /// `iat` and `nbf`.
    pub now: i64,
    /// Seconds until `exp`.
    pub lifetime: i64,
    /// `jti` (Google's tokens carry none).
    pub jti: &'a str,
}

/// The claim object built with `json!` (always an object) as a map.
pub fn object(claims: Value) -> Map<String, Value> {
    match claims {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl<'a> ClaimContext<'a> {
    /// A context for tests and tools: `now` and `lifetime` as given.
    pub fn at(issuer: &'a str, audience: &'a str, now: i64, lifetime: i64, jti: &'a str) -> Self {
        Self {
            issuer,
            audience,
            now,
            lifetime,
            jti,
        }
    }
}
