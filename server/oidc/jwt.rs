//! Reading a JWT before it is trusted, and verifying it after a key is found.
//! Nothing here ever takes a key, URL or algorithm from the token itself.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use serde_json::{Map, Value};

use crate::audit::Step;

/// Longest token accepted; real CI tokens are 1–2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// PyPI's leeway for `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 30;

/// A token split and decoded but not yet verified.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

impl Unverified {
    /// Decode without verification, only to learn `iss` (and, for the audit log, the
    /// header). Fails like PyPI's "malformed JWT".
    pub fn parse(token: &str) -> Result<Self, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "token is {} bytes; the limit is {MAX_TOKEN_BYTES}",
                token.len()
            ));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(_sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("a JWT has three dot-separated parts".into());
        };
        let header = decode_object(h).map_err(|e| format!("header: {e}"))?;
        let claims = decode_object(p).map_err(|e| format!("payload: {e}"))?;
        match claims.get("iss") {
            Some(Value::String(_)) => Ok(Self { header, claims }),
            Some(_) => Err("the 'iss' claim is not a string".into()),
            None => Err("the token has no 'iss' claim".into()),
        }
    }

    pub fn iss(&self) -> &str {
        self.claims.get("iss").and_then(Value::as_str).unwrap_or("")
    }

    pub fn rs256_kid(&self) -> Result<&str, String> {
        rs256_kid(&self.header)
    }
}

/// The header's `kid`, after insisting on RS256.
pub fn rs256_kid(header: &Map<String, Value>) -> Result<&str, String> {
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        Some(alg) => return Err(format!("algorithm '{alg}' is not accepted; only RS256 is")),
        None => return Err("the header has no 'alg'".into()),
    }
    header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| "the header has no 'kid', so no key can be chosen".to_owned())
}

fn decode_object(part: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| "not base64url".to_owned())?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not a JSON object".into()),
        Err(_) => Err("not JSON".into()),
    }
}

/// An issuer's RSA public key (2048 to 8192 bits), parsed once when its key set is
/// fetched, so a verification does no key parsing.
#[derive(Clone)]
pub struct VerifyingKey(Arc<ParsedPublicKey>);

impl VerifyingKey {
    /// From a JWK's modulus and exponent; any other kind of key is refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            return Err("not an RSA key".into());
        };
        let decode = |field: &str, value: &str| {
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| format!("'{field}' is not base64url"))
        };
        let (n, e) = (decode("n", &rsa.n)?, decode("e", &rsa.e)?);
        let der = RsaPublicKeyComponents {
            n: &n[..],
            e: &e[..],
        }
        .as_der()
        .map_err(|_| "not a valid RSA public key".to_owned())?;
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_ref())
            .map(|key| Self(Arc::new(key)))
            .map_err(|e| format!("unusable RSA public key: {e}"))
    }
}

/// Check the RS256 signature (PKCS#1 v1.5, SHA-256) over the token's header and
/// payload, exactly as sent. The algorithm was checked on the header before the key
/// was chosen; claims are judged separately by [`check_standard_claims`], so every
/// rule is visible there.
pub fn verify_signature(token: &str, key: &VerifyingKey) -> Result<(), String> {
    let (signed, signature) = token
        .rsplit_once('.')
        .ok_or("signature check failed: the token has no signature")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "signature check failed: the signature is not base64url")?;
    key.0
        .verify_sig(signed.as_bytes(), &signature)
        .map_err(|_| "signature check failed: InvalidSignature (the RS256 signature does not verify with the issuer's key)".to_owned())
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("'{name}' is not an integer")),
        Some(_) => Err(format!("'{name}' is not a number")),
    }
}

/// PyPI's standard-claim rules: `iss` exact; `aud` one string equal to ours (a list,
/// even `["pypi"]`, is refused); `exp`, `iat` required; `nbf` checked if present;
/// 30 s leeway. Returns every step's verdict; the first failure decides.
pub fn check_standard_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    steps.push(match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == issuer => Step::pass("iss", format!("'{iss}' is the trusted issuer")),
        other => Step::fail("iss", format!("expected '{issuer}', got {other:?}")),
    });
    steps.push(match claims.get("aud") {
        Some(Value::String(aud)) if aud == audience => Step::pass("aud", format!("'{aud}'")),
        Some(Value::String(aud)) => Step::fail(
            "aud",
            format!("audience '{aud}' is not ours ('{audience}')"),
        ),
        Some(Value::Array(_)) => Step::fail(
            "aud",
            format!("audience is a list; PyPI requires the single string '{audience}'"),
        ),
        Some(_) => Step::fail("aud", "audience is not a string"),
        None => Step::fail(
            "aud",
            format!("the token has no 'aud' claim (expected '{audience}')"),
        ),
    });
    steps.push(match int_claim(claims, "exp") {
        Ok(Some(exp)) if exp <= now - LEEWAY_SECONDS => Step::fail(
            "exp",
            format!("expired {} s ago (leeway {LEEWAY_SECONDS} s)", now - exp),
        ),
        Ok(Some(exp)) => Step::pass("exp", format!("expires in {} s", exp - now)),
        Ok(None) => Step::fail("exp", "the token has no 'exp' claim"),
        Err(e) => Step::fail("exp", e),
    });
    steps.push(match int_claim(claims, "iat") {
        Ok(Some(iat)) if iat > now + LEEWAY_SECONDS => Step::fail(
            "iat",
            format!(
                "issued {} s in the future (leeway {LEEWAY_SECONDS} s)",
                iat - now
            ),
        ),
        Ok(Some(iat)) => Step::pass("iat", format!("issued {} s ago", now - iat)),
        Ok(None) => Step::fail("iat", "the token has no 'iat' claim"),
        Err(e) => Step::fail("iat", e),
    });
    match int_claim(claims, "nbf") {
        Ok(Some(nbf)) if nbf > now + LEEWAY_SECONDS => steps.push(Step::fail(
            "nbf",
            format!(
                "not valid for another {} s (leeway {LEEWAY_SECONDS} s)",
                nbf - now
            ),
        )),
        Ok(Some(_)) => steps.push(Step::pass("nbf", "already valid")),
        Ok(None) => {}
        Err(e) => steps.push(Step::fail("nbf", e)),
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn verdict(c: Value, step: &str) -> Option<bool> {
        check_standard_claims(&claims(c), "https://iss", "pypi", NOW)
            .into_iter()
            .find(|s| s.step == step)
            .map(|s| s.ok)
    }

    fn base() -> Value {
        json!({"iss": "https://iss", "aud": "pypi", "iat": NOW, "exp": NOW + 300})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut c = base();
        c[key] = value;
        c
    }

    #[test]
    fn leeway_boundaries_match_pyjwt() {
        // exp: refused once exp <= now - 30.
        assert_eq!(verdict(with("exp", json!(NOW - 29)), "exp"), Some(true));
        assert_eq!(verdict(with("exp", json!(NOW - 30)), "exp"), Some(false));
        // iat and nbf: refused once more than 30 s in the future.
        assert_eq!(verdict(with("iat", json!(NOW + 30)), "iat"), Some(true));
        assert_eq!(verdict(with("iat", json!(NOW + 31)), "iat"), Some(false));
        assert_eq!(verdict(with("nbf", json!(NOW + 30)), "nbf"), Some(true));
        assert_eq!(verdict(with("nbf", json!(NOW + 31)), "nbf"), Some(false));
    }

    #[test]
    fn required_and_typed_claims() {
        let mut c = base();
        c.as_object_mut().unwrap().remove("exp");
        assert_eq!(verdict(c, "exp"), Some(false));
        let mut c = base();
        c.as_object_mut().unwrap().remove("iat");
        assert_eq!(verdict(c, "iat"), Some(false));
        assert_eq!(verdict(with("exp", json!("soon")), "exp"), Some(false));
        assert_eq!(verdict(base(), "nbf"), None);
    }

    #[test]
    fn audience_must_be_exactly_one_string() {
        assert_eq!(verdict(base(), "aud"), Some(true));
        assert_eq!(verdict(with("aud", json!(["pypi"])), "aud"), Some(false));
        assert_eq!(verdict(with("aud", json!("testpypi")), "aud"), Some(false));
        assert_eq!(verdict(with("aud", json!(null)), "aud"), Some(false));
        assert_eq!(
            verdict(with("iss", json!("https://iss/")), "iss"),
            Some(false)
        );
    }

    #[test]
    fn parsing_refuses_non_jwts_and_checks_the_header() {
        assert!(Unverified::parse("a.b").is_err());
        assert!(Unverified::parse("a.b.c.d").is_err());
        assert!(Unverified::parse(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_err());
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let no_iss = format!(
            "{}.{}.",
            enc(json!({"alg": "RS256", "kid": "k"})),
            enc(json!({"aud": "pypi"}))
        );
        assert!(Unverified::parse(&no_iss).unwrap_err().contains("iss"));
        let none = format!(
            "{}.{}.",
            enc(json!({"alg": "none", "kid": "k"})),
            enc(json!({"iss": "i"}))
        );
        assert!(
            Unverified::parse(&none)
                .unwrap()
                .rs256_kid()
                .unwrap_err()
                .contains("'none'")
        );
        let no_kid = format!(
            "{}.{}.",
            enc(json!({"alg": "RS256"})),
            enc(json!({"iss": "i"}))
        );
        assert!(
            Unverified::parse(&no_kid)
                .unwrap()
                .rs256_kid()
                .unwrap_err()
                .contains("kid")
        );
    }
}
