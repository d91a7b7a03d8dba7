//! Deliberately bad tokens, on request: each kind breaks exactly one rule a verifier
//! must enforce, so a client or an index can be tested against it. (Not the index's
//! failure kit, `crate::faults`: these are bad artifacts, not bad days.)

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

use super::keys::SigningKey;

/// How far outside the 30 s leeway the time faults go.
const SKEW: i64 = 600;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadToken {
    /// `exp` ten minutes ago.
    Expired,
    /// `nbf` ten minutes ahead.
    NotYetValid,
    /// `iat` ten minutes ahead.
    IssuedInFuture,
    /// `aud` is not the requested audience.
    WrongAudience,
    /// `aud` is a list holding the requested audience.
    ListAudience,
    /// Signed by a key the JWKS does not publish.
    UnpublishedKey,
    /// A valid signature with one byte changed.
    TamperedSignature,
    /// `alg: none` and no signature.
    AlgNone,
    /// HS256 keyed with the issuer's public key (algorithm confusion).
    Hs256,
    /// RS256 with no `kid` in the header.
    NoKid,
    /// The claim is left out.
    MissingClaim(String),
    /// The `jti` of the previous token this issuer minted.
    ReusedJti,
}

pub const BAD_TOKEN_NAMES: &str = "expired, not-yet-valid, issued-in-future, wrong-audience, list-audience, unpublished-key, tampered-signature, alg-none, hs256, no-kid, missing:<claim>, reused-jti";

impl FromStr for BadToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text.trim() {
            "expired" => BadToken::Expired,
            "not-yet-valid" => BadToken::NotYetValid,
            "issued-in-future" => BadToken::IssuedInFuture,
            "wrong-audience" => BadToken::WrongAudience,
            "list-audience" => BadToken::ListAudience,
            "unpublished-key" => BadToken::UnpublishedKey,
            "tampered-signature" => BadToken::TamperedSignature,
            "alg-none" => BadToken::AlgNone,
            "hs256" => BadToken::Hs256,
            "no-kid" => BadToken::NoKid,
            "reused-jti" => BadToken::ReusedJti,
            other => match other.strip_prefix("missing:") {
                Some(claim) if !claim.is_empty() => BadToken::MissingClaim(claim.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown bad token '{other}' (one of: {BAD_TOKEN_NAMES})"
                    ));
                }
            },
        })
    }
}

impl BadToken {
    /// Change the claims; `previous_jti` is the last jti this issuer handed out.
    pub fn edit_claims(
        &self,
        claims: &mut Map<String, Value>,
        now: i64,
        previous_jti: Option<&str>,
    ) {
        match self {
            BadToken::Expired => {
                claims.insert("iat".into(), json!(now - 2 * SKEW));
                claims.insert("nbf".into(), json!(now - 2 * SKEW));
                claims.insert("exp".into(), json!(now - SKEW));
            }
            BadToken::NotYetValid => {
                claims.insert("nbf".into(), json!(now + SKEW));
                claims.insert("exp".into(), json!(now + 2 * SKEW));
            }
            BadToken::IssuedInFuture => {
                claims.insert("iat".into(), json!(now + SKEW));
                claims.remove("nbf");
                claims.insert("exp".into(), json!(now + 2 * SKEW));
            }
            BadToken::WrongAudience => {
                let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
                let wrong = format!("not-{aud}");
                claims.insert("aud".into(), json!(wrong));
            }
            BadToken::ListAudience => {
                let aud = claims.get("aud").cloned().unwrap_or(Value::Null);
                claims.insert("aud".into(), json!([aud]));
            }
            BadToken::MissingClaim(name) => {
                claims.remove(name);
            }
            BadToken::ReusedJti => {
                if let Some(jti) = previous_jti {
                    claims.insert("jti".into(), json!(jti));
                }
            }
            _ => {}
        }
    }

    /// Sign `claims` as this fault demands. `key` is the publishing key, `unpublished`
    /// a key the JWKS never shows (only used by [`BadToken::UnpublishedKey`]).
    pub fn sign(
        fault: Option<&BadToken>,
        claims: &Map<String, Value>,
        key: &SigningKey,
        unpublished: Option<&SigningKey>,
    ) -> anyhow::Result<String> {
        match fault {
            Some(BadToken::UnpublishedKey) => unpublished.unwrap_or(key).sign(claims),
            Some(BadToken::TamperedSignature) => {
                let good = key.sign(claims)?;
                let (signed, signature) = good.rsplit_once('.').unwrap_or((&good, ""));
                let mut bytes = URL_SAFE_NO_PAD.decode(signature)?;
                if let Some(b) = bytes.get_mut(10) {
                    *b ^= 0x01;
                }
                Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes)))
            }
            Some(BadToken::AlgNone) => {
                let header = json!({"alg": "none", "typ": "JWT", "kid": key.kid});
                Ok(format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
                ))
            }
            Some(BadToken::NoKid) => key.sign_without_kid(claims),
            Some(BadToken::Hs256) => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(key.kid.clone());
                let secret = EncodingKey::from_secret(key.public_pem.as_bytes());
                Ok(jsonwebtoken::encode(&header, claims, &secret)?)
            }
            _ => key.sign(claims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_listed() {
        assert_eq!("expired".parse::<BadToken>(), Ok(BadToken::Expired));
        assert_eq!(
            "missing:sha".parse::<BadToken>(),
            Ok(BadToken::MissingClaim("sha".into()))
        );
        let err = "bogus".parse::<BadToken>().unwrap_err();
        assert!(err.contains("tampered-signature"), "{err}");
        assert!("missing:".parse::<BadToken>().is_err());
    }

    #[test]
    fn time_faults_leave_the_leeway() {
        let mut c = Map::new();
        c.insert("aud".into(), json!("pypi"));
        BadToken::Expired.edit_claims(&mut c, 10_000, None);
        assert!(c["exp"].as_i64().unwrap() < 10_000 - 30);
        BadToken::ListAudience.edit_claims(&mut c, 10_000, None);
        assert_eq!(c["aud"], json!(["pypi"]));
    }
}
