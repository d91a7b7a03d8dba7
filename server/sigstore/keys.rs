//! ECDSA keys for the fake CA, CT log and transparency log (P-256, as Sigstore's
//! verifiers expect), kept as PKCS#8 PEM in the data directory, and signature checks
//! against any key a trusted root or certificate names.

use std::path::Path;

use anyhow::Context;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA384_ASN1,
    ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use der::asn1::{BitString, ObjectIdentifier};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::asn1::{EC_PUBLIC_KEY, ECDSA_SHA256, ECDSA_SHA384, P256, P384};

pub struct EcKey {
    pair: EcdsaKeyPair,
    spki: Vec<u8>,
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcKey({})", hex::encode(&self.key_id()[..4]))
    }
}

impl EcKey {
    pub fn generate() -> anyhow::Result<Self> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| anyhow::anyhow!("generating a P-256 key failed"))?;
        Self::wrap(pair)
    }

    fn wrap(pair: EcdsaKeyPair) -> anyhow::Result<Self> {
        let spki = p256_spki(pair.public_key().as_ref())?;
        Ok(Self { pair, spki })
    }

    pub fn from_pem(text: &str) -> anyhow::Result<Self> {
        let block = pem::parse(text).context("not PEM")?;
        anyhow::ensure!(
            block.tag() == "PRIVATE KEY",
            "expected a PKCS#8 'PRIVATE KEY', found '{}'",
            block.tag()
        );
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, block.contents())
            .map_err(|e| anyhow::anyhow!("not a P-256 PKCS#8 key: {e}"))?;
        Self::wrap(pair)
    }

    pub fn to_pem(&self) -> anyhow::Result<String> {
        let doc = self
            .pair
            .to_pkcs8v1()
            .map_err(|_| anyhow::anyhow!("exporting the key failed"))?;
        Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref())))
    }

    /// The key at `path`, generated (and written, owner-only) the first time.
    pub async fn load_or_generate(path: &Path) -> anyhow::Result<Self> {
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            return Self::from_pem(&text).with_context(|| format!("reading {}", path.display()));
        }
        let key = Self::generate()?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        crate::util::write_private(path, key.to_pem()?.as_bytes())
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(key)
    }

    /// ECDSA-SHA256, ASN.1 DER.
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| anyhow::anyhow!("ECDSA signing failed"))?
            .as_ref()
            .to_vec())
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: how logs and keyrings name a key.
    pub fn key_id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki).into()
    }

    pub fn spki(&self) -> anyhow::Result<SubjectPublicKeyInfoOwned> {
        Ok(SubjectPublicKeyInfoOwned::from_der(&self.spki)?)
    }
}

/// The DER SubjectPublicKeyInfo of an uncompressed P-256 point.
pub fn p256_spki(point: &[u8]) -> anyhow::Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&P256)?),
        },
        subject_public_key: BitString::from_bytes(point)?,
    };
    Ok(spki.to_der()?)
}

/// Check an ECDSA signature (ASN.1 DER) by the key in `spki_der`. `algorithm` is the
/// signature's OID (ecdsa-with-SHA256/384); the curve comes from the key.
pub fn verify(
    spki_der: &[u8],
    algorithm: &ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(|e| format!("unreadable public key: {e}"))?;
    if spki.algorithm.oid != EC_PUBLIC_KEY {
        return Err(format!(
            "unsupported key type {} (ECDSA keys only)",
            spki.algorithm.oid
        ));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let alg = match (curve, algorithm) {
        (Some(c), a) if c == P256 && *a == ECDSA_SHA256 => &ECDSA_P256_SHA256_ASN1,
        (Some(c), a) if c == P256 && *a == ECDSA_SHA384 => &ECDSA_P256_SHA384_ASN1,
        (Some(c), a) if c == P384 && *a == ECDSA_SHA256 => &ECDSA_P384_SHA256_ASN1,
        (Some(c), a) if c == P384 && *a == ECDSA_SHA384 => &ECDSA_P384_SHA384_ASN1,
        (c, a) => {
            return Err(format!(
                "unsupported curve/signature combination ({c:?}, {a})"
            ));
        }
    };
    let point = spki.subject_public_key.raw_bytes();
    UnparsedPublicKey::new(alg, point)
        .verify(message, signature)
        .map_err(|_| "signature does not verify".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        let key = EcKey::generate().unwrap();
        let again = EcKey::from_pem(&key.to_pem().unwrap()).unwrap();
        assert_eq!(key.spki_der(), again.spki_der());
        let sig = key.sign(b"hello").unwrap();
        assert_eq!(
            verify(again.spki_der(), &ECDSA_SHA256, b"hello", &sig),
            Ok(())
        );
        assert!(verify(key.spki_der(), &ECDSA_SHA256, b"hellO", &sig).is_err());
        assert!(verify(key.spki_der(), &ECDSA_SHA384, b"hello", &sig).is_err());
    }
}
