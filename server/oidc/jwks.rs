//! Keys of trusted issuers, fetched by discovery (or an explicit `jwks_url`) and cached
//! per issuer. An unknown `kid` triggers at most one refetch a minute per issuer; a
//! failed or empty fetch never replaces a good cached set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use super::jwt::VerifyingKey;
pub use crate::audit::KeySource;
use crate::store::TrustedIssuerRow;

/// PyPI refetches a key set at most once a minute per issuer.
pub const REFRESH_COOLDOWN: Duration = Duration::from_secs(60);
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery documents and key sets are small; refuse anything larger.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// One issuer's keys. Lookups of cached kids never wait for a fetch in progress; the
/// async lock makes fetches single-flight and holds the time of the last attempt.
#[derive(Default)]
struct CachedKeys {
    keys: std::sync::RwLock<HashMap<String, VerifyingKey>>,
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl CachedKeys {
    fn get(&self, kid: &str) -> Option<VerifyingKey> {
        match self.keys.read() {
            Ok(keys) => keys.get(kid).cloned(),
            Err(poisoned) => poisoned.into_inner().get(kid).cloned(),
        }
    }

    fn replace(&self, keys: HashMap<String, VerifyingKey>) {
        match self.keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }
}

/// (issuer URL, explicit JWKS URL).
type CacheKey = (String, Option<String>);
type Entry = Arc<CachedKeys>;

pub struct JwksCache {
    http: reqwest::Client,
    entries: Mutex<HashMap<CacheKey, Entry>>,
    cooldown: Duration,
}

impl JwksCache {
    pub fn new(cooldown: Duration) -> anyhow::Result<Self> {
        let http = crate::http_client::build(|| {
            reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("mock-pypi/", env!("CARGO_PKG_VERSION")))
        })?;
        Ok(Self {
            http,
            entries: Mutex::new(HashMap::new()),
            cooldown,
        })
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    fn entry(&self, issuer: &TrustedIssuerRow) -> Entry {
        let key = (issuer.url.clone(), issuer.jwks_url.clone());
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.entry(key).or_default().clone()
    }

    /// The key for `kid` from `issuer`'s published set.
    pub async fn key(
        &self,
        issuer: &TrustedIssuerRow,
        kid: &str,
    ) -> Result<(VerifyingKey, KeySource), String> {
        let entry = self.entry(issuer);
        let jwks_hint = issuer
            .jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", issuer.url));
        let cached = |key| {
            Ok((
                key,
                KeySource {
                    kid: kid.into(),
                    jwks_url: jwks_hint.clone(),
                    fetched_now: false,
                },
            ))
        };
        if let Some(key) = entry.get(kid) {
            return cached(key);
        }
        let mut last_attempt = entry.last_attempt.lock().await;
        // A fetch that finished while we waited may have brought the key.
        if let Some(key) = entry.get(kid) {
            return cached(key);
        }
        if let Some(at) = *last_attempt
            && at.elapsed() < self.cooldown
        {
            return Err(format!(
                "key '{kid}' is not in the issuer's key set, which was fetched {} s ago (refetched at most once every {} s)",
                at.elapsed().as_secs(),
                self.cooldown.as_secs()
            ));
        }
        *last_attempt = Some(Instant::now());
        let jwks_url = self.fetch_into(issuer, &entry).await?;
        match entry.get(kid) {
            Some(key) => Ok((
                key,
                KeySource {
                    kid: kid.into(),
                    jwks_url,
                    fetched_now: true,
                },
            )),
            None => Err(format!(
                "key '{kid}' is not in the issuer's key set at {jwks_url}"
            )),
        }
    }

    /// The key ids cached for `issuer` (nothing is fetched).
    pub fn cached_kids(&self, issuer: &TrustedIssuerRow) -> Vec<String> {
        let entry = self.entry(issuer);
        let mut kids: Vec<String> = match entry.keys.read() {
            Ok(keys) => keys.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        };
        kids.sort();
        kids
    }

    /// Fetch `issuer`'s keys now, regardless of the cooldown; the kids now cached.
    pub async fn refresh(&self, issuer: &TrustedIssuerRow) -> Result<Vec<String>, String> {
        let entry = self.entry(issuer);
        let mut last_attempt = entry.last_attempt.lock().await;
        *last_attempt = Some(Instant::now());
        self.fetch_into(issuer, &entry).await?;
        let mut kids: Vec<String> = match entry.keys.read() {
            Ok(keys) => keys.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        };
        kids.sort();
        Ok(kids)
    }

    /// Fetch and, if the set has usable keys, replace the cached ones (keys that left
    /// the set are forgotten, as PyPI does). A failed or empty fetch keeps the cache.
    async fn fetch_into(
        &self,
        issuer: &TrustedIssuerRow,
        entry: &CachedKeys,
    ) -> Result<String, String> {
        let (jwks_url, keys) = self.fetch(issuer).await?;
        if keys.is_empty() {
            return Err(format!(
                "the key set at {jwks_url} has no usable RS256 keys; keeping the cached ones"
            ));
        }
        entry.replace(keys);
        Ok(jwks_url)
    }

    async fn fetch(
        &self,
        issuer: &TrustedIssuerRow,
    ) -> Result<(String, HashMap<String, VerifyingKey>), String> {
        let jwks_url = match &issuer.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery_url = format!("{}/.well-known/openid-configuration", issuer.url);
                let doc: Value = self.get_json(&discovery_url).await?;
                // A discovery document speaking for another issuer must not be believed.
                match doc.get("issuer").and_then(Value::as_str) {
                    Some(iss) if iss == issuer.url => {}
                    other => {
                        return Err(format!(
                            "discovery document at {discovery_url} names issuer {other:?}, not '{}'",
                            issuer.url
                        ));
                    }
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        format!("discovery document at {discovery_url} has no jwks_uri")
                    })?
                    .to_owned()
            }
        };
        let set: JwkSet = serde_json::from_value(self.get_json(&jwks_url).await?)
            .map_err(|e| format!("key set at {jwks_url} is not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            if !matches!(
                jwk.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
            ) {
                continue;
            }
            if let Ok(key) = VerifyingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), key);
            }
        }
        Ok((jwks_url, keys))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("fetching {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("fetching {url}: HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "{url} answered with more than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} did not answer JSON: {e}"))
    }
}
