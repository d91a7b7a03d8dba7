//! A fake Sigstore next to the fake issuer: a certificate authority in Fulcio's image,
//! a transparency log in Rekor's image and a `trusted_root.json` naming both (plus
//! the CT key whose SCTs the certificates embed), so that `mock-pypi attest` can
//! produce real PEP 740 attestations offline and standard Sigstore verifiers accept
//! them. The index's verifier (`crate::sigstore`) knows nothing of this module.

pub mod ca;
pub mod http;
pub mod identity;
pub mod tlog;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value};

use self::ca::{Authority, LEAF_LIFETIME, LeafRequest};
use self::tlog::{Entry, TransparencyLog};
use crate::provider::Provider;
use crate::sigstore::keys::EcKey;
use crate::sigstore::{asn1, bundle, root};

/// Ways to make the fake CA issue a certificate PyPI must refuse (a bad artifact, not
/// one of the index's faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadCertificate {
    /// Valid ten minutes, ending before now.
    Expired,
    /// The identity of another workflow file of the same repository.
    OtherIdentity,
    /// Issued by a CA the trusted root does not list.
    UntrustedCa,
}

impl std::str::FromStr for BadCertificate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "expired-certificate" => Ok(Self::Expired),
            "other-identity" => Ok(Self::OtherIdentity),
            "untrusted-ca" => Ok(Self::UntrustedCa),
            other => Err(format!(
                "unknown bad certificate '{other}' (expired-certificate, other-identity, untrusted-ca)"
            )),
        }
    }
}

pub struct Sigstore {
    authority: Authority,
    pub log: TransparencyLog,
    /// `trusted_root.json`, as served and written.
    pub trusted_root: String,
    pub trusted_root_path: PathBuf,
    base_url: String,
}

impl Sigstore {
    /// The CA, CT and log keys in `key_dir` (generated there the first time), the CA
    /// certificate and the log in `data_dir/sigstore`, served under `base_url`.
    pub async fn open(key_dir: &Path, data_dir: &Path, base_url: &str) -> anyhow::Result<Self> {
        let ca_key = EcKey::load_or_generate(&key_dir.join("ca-key.pem")).await?;
        let ct_key = EcKey::load_or_generate(&key_dir.join("ct-key.pem")).await?;
        let rekor_key = EcKey::load_or_generate(&key_dir.join("rekor-key.pem")).await?;
        let dir = data_dir.join("sigstore");
        tokio::fs::create_dir_all(&dir).await?;
        let cert_der = ca_certificate(&dir.join("ca.pem"), &ca_key).await?;
        let log = TransparencyLog::open(&dir.join("rekor-log.jsonl"), rekor_key).await?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        let trusted_root = serde_json::to_string_pretty(&root::document(
            &base_url,
            &cert_der,
            log.key.spki_der(),
            ct_key.spki_der(),
        ))?;
        let trusted_root_path = dir.join("trusted_root.json");
        tokio::fs::write(&trusted_root_path, &trusted_root)
            .await
            .with_context(|| format!("writing {}", trusted_root_path.display()))?;
        Ok(Self {
            authority: Authority {
                key: ca_key,
                cert_der,
                ct_key,
            },
            log,
            trusted_root,
            trusted_root_path,
            base_url,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn ca_der(&self) -> &[u8] {
        &self.authority.cert_der
    }

    /// A ten-minute signing certificate (DER) for the verified token's claims, and the
    /// CA chain above it.
    pub async fn issue(
        &self,
        provider: Provider,
        claims: &Map<String, Value>,
        spki_der: &[u8],
        fault: Option<BadCertificate>,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut identity = identity::derive(provider, claims)?;
        if fault == Some(BadCertificate::OtherIdentity) {
            identity = identity.with_other_workflow("not-the-publisher.yml");
        }
        let now = crate::util::now();
        let (not_before, not_after) = match fault {
            Some(BadCertificate::Expired) => (now - 2 * LEAF_LIFETIME, now - LEAF_LIFETIME),
            _ => (now, now + LEAF_LIFETIME),
        };
        let spki_der = spki_der.to_vec();
        let untrusted = fault == Some(BadCertificate::UntrustedCa);
        let issued = if untrusted {
            let stranger = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let key = EcKey::generate()?;
                let cert_der = ca::root_certificate(&key, crate::util::now() - 86_400)?;
                Ok(Authority {
                    key,
                    cert_der,
                    ct_key: EcKey::generate()?,
                })
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            stranger
                .issue(&LeafRequest {
                    spki_der: &spki_der,
                    identity: &identity,
                    not_before,
                    not_after,
                })
                .map(|leaf| (leaf, stranger.cert_der.clone()))
        } else {
            self.authority
                .issue(&LeafRequest {
                    spki_der: &spki_der,
                    identity: &identity,
                    not_before,
                    not_after,
                })
                .map(|leaf| (leaf, self.authority.cert_der.clone()))
        };
        issued.map_err(|e| format!("issuing the certificate failed: {e}"))
    }

    /// Record a DSSE signing (the statement, its signature, the signing certificate).
    pub async fn log_dsse(
        &self,
        statement: &[u8],
        signature: &[u8],
        cert_der: &[u8],
    ) -> anyhow::Result<Entry> {
        let body = bundle::dsse_body(statement, signature, cert_der);
        self.log.append(body, crate::util::now()).await
    }
}

/// The CA certificate kept at `path` (made the first time, for this key).
async fn ca_certificate(path: &Path, key: &EcKey) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = tokio::fs::read_to_string(path).await
        && let Ok(block) = pem::parse(&text)
        && let Ok(cert) = asn1::Certificate::parse(block.contents())
        && der::Encode::to_der(&cert.tbs.subject_public_key_info)
            .ok()
            .as_deref()
            == Some(key.spki_der())
    {
        return Ok(block.contents().to_vec());
    }
    // Valid from yesterday, so clocks a little behind still accept it.
    let der = ca::root_certificate(key, crate::util::now() - 86_400)?;
    tokio::fs::write(path, bundle::certificate_pem(&der)).await?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed test keys load, name themselves in the trusted root, and a second
    /// start keeps the same CA certificate.
    #[tokio::test]
    async fn fixture_keys_make_a_reproducible_root() {
        let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/sigstore");
        let data = tempfile::tempdir().unwrap();
        let first = Sigstore::open(&keys, data.path(), "http://h/sigstore")
            .await
            .unwrap();
        let rekor =
            EcKey::from_pem(&std::fs::read_to_string(keys.join("rekor-key.pem")).unwrap()).unwrap();
        let mut roots = root::Roots::default();
        roots.add(&first.trusted_root).unwrap();
        assert!(roots.tlog(&rekor.key_id()).is_some());
        let again = Sigstore::open(&keys, data.path(), "http://h/sigstore")
            .await
            .unwrap();
        assert_eq!(first.ca_der(), again.ca_der());
        assert_eq!(
            std::fs::read_to_string(&first.trusted_root_path).unwrap(),
            again.trusted_root
        );
    }
}
