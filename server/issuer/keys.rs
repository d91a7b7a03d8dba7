//! The fake issuer's RS256 signing keys and the JWKS that publishes them.

use std::path::Path;

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl SigningKey {
    /// Load a PKCS#1 or PKCS#8 RSA private key in PEM form.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let encoding =
            EncodingKey::from_rsa_pem(pem).context("not an RSA private key in PEM form")?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)?;
        // Thumbprint kids (RFC 7638) are stable for a key and differ between keys.
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)?
            .chars()
            .take(16)
            .collect::<String>();
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(Self { kid, encoding, jwk })
    }

    /// Generate a 2048-bit key (CPU-heavy: call from a blocking thread). Returns the key and its PEM.
    pub fn generate() -> anyhow::Result<(Self, String)> {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let key = rsa::PrivateKey::new(&mut rand::rng(), 2048).context("generating an RSA key")?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the RSA key")?;
        let pem = pem.to_string();
        Ok((Self::from_pem(pem.as_bytes())?, pem))
    }

    /// Load the key at `path`, or generate one there (mode 0600) if it does not exist.
    pub async fn load_or_generate(path: &Path) -> anyhow::Result<Self> {
        if let Ok(pem) = tokio::fs::read(path).await {
            return Self::from_pem(&pem)
                .with_context(|| format!("loading issuer key {}", path.display()));
        }
        let (key, pem) = tokio::task::spawn_blocking(Self::generate).await??;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let header = "# mock-pypi fake issuer key. TEST KEY ONLY: never trust it anywhere real.\n";
        crate::util::write_private(path, format!("{header}{pem}").as_bytes()).await?;
        Ok(key)
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Sign claims as an RS256 JWT with this key's `kid` (CPU-heavy).
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// The keys the issuer publishes; the first one signs.
pub struct KeyRing {
    keys: Vec<std::sync::Arc<SigningKey>>,
}

impl KeyRing {
    pub fn new(key: SigningKey) -> Self {
        Self {
            keys: vec![std::sync::Arc::new(key)],
        }
    }

    pub fn current(&self) -> std::sync::Arc<SigningKey> {
        self.keys[0].clone()
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }
}
