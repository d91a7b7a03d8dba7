//! The fake issuer's RS256 signing keys and the JWKS that publishes them.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
    /// SPKI PEM of the public half: what an algorithm-confusion attacker would use as
    /// an HMAC secret.
    pub public_pem: String,
    /// The private key as read (kept to share a rotated ring with other processes).
    private_pem: String,
}

impl SigningKey {
    /// Load a PKCS#1 or PKCS#8 RSA private key in PEM form.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let text = std::str::from_utf8(pem).context("the key file is not text")?;
        // Skip a comment header such as the TEST KEY notice.
        let text = text.find("-----BEGIN").map_or(text, |at| &text[at..]);
        let private = rsa::PrivateKey::from_pkcs8_pem(text)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(text))
            .context("not an RSA private key in PEM form")?;
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the public key")?;
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
        Ok(Self {
            kid,
            encoding,
            jwk,
            public_pem,
            private_pem: text.to_owned(),
        })
    }

    /// Generate a 2048-bit key (CPU-heavy: call from a blocking thread). Returns the key and its PEM.
    pub fn generate() -> anyhow::Result<(Self, String)> {
        use aws_lc_rs::encoding::AsDer;
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
        // aws-lc-rs finds the primes several times faster than the rsa crate (a fresh
        // server's start was mostly this); rsa encodes the PEM the rest reads.
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("generating an RSA key"))?;
        let der = pair
            .as_der()
            .map_err(|_| anyhow::anyhow!("encoding the RSA key"))?;
        let key = rsa::PrivateKey::from_pkcs8_der(der.as_ref()).context("reading the RSA key")?;
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

    /// RS256 with no `kid` in the header (PyPI refuses such tokens).
    pub fn sign_without_kid<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let header = Header::new(Algorithm::RS256);
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// A published key and, once it has been rotated out, when it leaves the key set.
struct Published {
    key: Arc<SigningKey>,
    retire_at: Option<i64>,
}

/// The keys the issuer publishes; the first one signs. Rotation puts a new key first
/// and keeps the old ones published until their overlap ends.
pub struct KeyRing {
    keys: Vec<Published>,
}

/// One key of the ring as the control file keeps it.
#[derive(Serialize, serde::Deserialize)]
pub struct SavedKey {
    pub pem: String,
    pub retire_at: Option<i64>,
}

/// One published key, for the issuer's state page.
#[derive(Serialize)]
pub struct KeyState {
    pub kid: String,
    pub signing: bool,
    pub retire_at: Option<i64>,
}

impl KeyRing {
    pub fn new(key: SigningKey) -> Self {
        Self {
            keys: vec![Published {
                key: Arc::new(key),
                retire_at: None,
            }],
        }
    }

    pub fn current(&self) -> Arc<SigningKey> {
        self.keys[0].key.clone()
    }

    /// `key` signs from now on; the others stay published for `overlap` seconds.
    pub fn rotate(&mut self, key: SigningKey, now: i64, overlap: i64) {
        self.keys.retain(|p| p.retire_at.is_none_or(|at| at > now));
        for p in &mut self.keys {
            let until = now + overlap.max(0);
            p.retire_at = Some(p.retire_at.map_or(until, |at| at.min(until)));
        }
        self.keys.insert(
            0,
            Published {
                key: Arc::new(key),
                retire_at: None,
            },
        );
    }

    fn published(&self, now: i64) -> impl Iterator<Item = &Published> {
        self.keys
            .iter()
            .filter(move |p| p.retire_at.is_none_or(|at| at > now))
    }

    pub fn jwks(&self, now: i64) -> JwkSet {
        JwkSet {
            keys: self.published(now).map(|p| p.key.jwk.clone()).collect(),
        }
    }

    /// The ring as the control file keeps it: each key's PEM and retirement, signer first.
    pub fn saved(&self) -> Vec<SavedKey> {
        self.keys
            .iter()
            .map(|p| SavedKey {
                pem: p.key.private_pem.clone(),
                retire_at: p.retire_at,
            })
            .collect()
    }

    /// A ring read back from the control file (keys this process already holds are
    /// reused, not parsed again).
    pub fn from_saved(saved: &[SavedKey], known: &KeyRing) -> anyhow::Result<Self> {
        anyhow::ensure!(!saved.is_empty(), "the saved key ring is empty");
        let keys = saved
            .iter()
            .map(|s| {
                let key = match known.keys.iter().find(|p| p.key.private_pem == s.pem) {
                    Some(p) => p.key.clone(),
                    None => Arc::new(SigningKey::from_pem(s.pem.as_bytes())?),
                };
                Ok(Published {
                    key,
                    retire_at: s.retire_at,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { keys })
    }

    pub fn state(&self, now: i64) -> Vec<KeyState> {
        self.published(now)
            .enumerate()
            .map(|(i, p)| KeyState {
                kid: p.key.kid.clone(),
                signing: i == 0,
                retire_at: p.retire_at,
            })
            .collect()
    }
}
