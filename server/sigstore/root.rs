//! `trusted_root.json` in Sigstore's trusted-root format: the fake CA's certificate,
//! the transparency log's and the CT log's keys. Written into the data directory and
//! served, so standard Sigstore verifiers can use it; read back (with any extra roots,
//! e.g. the public-good instance's) by the index's own verifier.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::asn1::Certificate;

pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// Keys count from this moment (it must be in the past for verifiers to use them).
const VALID_FROM: &str = "2020-01-01T00:00:00Z";

/// The document for one CA certificate (DER), log key and CT key (DER SPKI).
pub fn document(base_url: &str, ca_der: &[u8], rekor_spki: &[u8], ct_spki: &[u8]) -> Value {
    let key = |spki: &[u8], url: String| {
        json!({
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": STANDARD.encode(spki),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": VALID_FROM},
            },
            "logId": {"keyId": STANDARD.encode(Sha256::digest(spki))},
        })
    };
    json!({
        "mediaType": MEDIA_TYPE,
        "tlogs": [key(rekor_spki, format!("{base_url}/rekor"))],
        "certificateAuthorities": [{
            "subject": {"organization": "mock-pypi", "commonName": "mock-fulcio-root"},
            "uri": format!("{base_url}/fulcio"),
            "certChain": {"certificates": [{"rawBytes": STANDARD.encode(ca_der)}]},
            "validFor": {"start": VALID_FROM},
        }],
        "ctlogs": [key(ct_spki, format!("{base_url}/ct"))],
        "timestampAuthorities": [],
    })
}

/// A log's key, found by the SHA-256 of its DER SPKI.
#[derive(Clone, Debug)]
pub struct LogKey {
    pub key_id: [u8; 32],
    pub spki: Vec<u8>,
}

/// A trusted CA certificate.
#[derive(Clone, Debug)]
pub struct Anchor {
    pub cert: Certificate,
}

/// What the verifier trusts: every CA certificate listed (each one an anchor, as
/// sigstore-python treats them), every transparency-log and CT-log key.
#[derive(Clone, Debug, Default)]
pub struct Roots {
    pub anchors: Vec<Anchor>,
    pub tlogs: Vec<LogKey>,
    pub ctlogs: Vec<LogKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<KeyDoc>,
    #[serde(default)]
    certificate_authorities: Vec<CaDoc>,
    #[serde(default)]
    ctlogs: Vec<KeyDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyDoc {
    public_key: RawBytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaDoc {
    cert_chain: Chain,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<RawBytes>,
}

impl Roots {
    /// Add a trusted-root document's CAs and keys.
    pub fn add(&mut self, text: &str) -> anyhow::Result<()> {
        let doc: Doc = serde_json::from_str(text)?;
        anyhow::ensure!(
            doc.media_type == MEDIA_TYPE,
            "unsupported trusted root format '{}' (expected {MEDIA_TYPE})",
            doc.media_type
        );
        let key = |k: &KeyDoc| -> anyhow::Result<LogKey> {
            let spki = STANDARD.decode(&k.public_key.raw_bytes)?;
            Ok(LogKey {
                key_id: Sha256::digest(&spki).into(),
                spki,
            })
        };
        for k in &doc.tlogs {
            self.tlogs.push(key(k)?);
        }
        for k in &doc.ctlogs {
            self.ctlogs.push(key(k)?);
        }
        for ca in &doc.certificate_authorities {
            for c in &ca.cert_chain.certificates {
                let der = STANDARD.decode(&c.raw_bytes)?;
                let cert = Certificate::parse(&der)?;
                self.anchors.push(Anchor { cert });
            }
        }
        Ok(())
    }

    pub fn tlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|k| k.key_id == key_id)
    }

    pub fn ctlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|k| k.key_id == key_id)
    }
}
