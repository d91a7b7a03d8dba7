//! PEP 740 attestations on the wire (pypi-attestations' `Attestation`), the in-toto
//! statement inside, DSSE's pre-authentication encoding, and the transparency-log
//! entry body that records a DSSE signing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const DSSE_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SHA-256 of PyPI's publish/v1 predicate type. The URI names the production index's
/// documentation host, which this project never writes down: the index recognises it
/// by digest, and `mock-pypi attest` reads it from the client libraries (or a flag).
pub const PUBLISH_V1_SHA256: &str =
    "64b3949826537e32dd526c5d9c31cbeb141dde83b68588399682d5aa3dcdcb74";

pub fn is_publish_v1(predicate_type: &str) -> bool {
    hex::encode(Sha256::digest(predicate_type.as_bytes())) == PUBLISH_V1_SHA256
}

/// A predicate type PyPI accepts, and its short name.
pub fn supported(predicate_type: &str) -> Option<&'static str> {
    if is_publish_v1(predicate_type) {
        Some("publish/v1")
    } else if predicate_type == SLSA_PROVENANCE_V1 {
        Some("SLSA provenance v1")
    } else {
        None
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub version: u8,
    pub verification_material: VerificationMaterial,
    pub envelope: Envelope,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationMaterial {
    /// Base64 of the DER signing certificate.
    pub certificate: String,
    pub transparency_entries: Vec<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 of the raw statement JSON.
    pub statement: String,
    /// Base64 of the DER ECDSA signature over the statement's PAE.
    pub signature: String,
}

/// An attestation with its byte fields decoded (what PyPI's parser checks first).
#[derive(Clone, Debug)]
pub struct Decoded {
    pub certificate: Vec<u8>,
    pub entry: Value,
    pub statement: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Attestation {
    /// Check the shape PyPI's parser demands: version 1, base64 fields, at least one
    /// transparency entry.
    pub fn decode(&self) -> Result<Decoded, String> {
        if self.version != 1 {
            return Err(format!("version must be 1, not {}", self.version));
        }
        let field = |name: &str, text: &str| {
            STANDARD
                .decode(text)
                .map_err(|e| format!("{name} is not base64: {e}"))
        };
        let entry = self
            .verification_material
            .transparency_entries
            .first()
            .cloned()
            .ok_or("verification_material.transparency_entries must hold at least one entry")?;
        Ok(Decoded {
            certificate: field(
                "verification_material.certificate",
                &self.verification_material.certificate,
            )?,
            entry,
            statement: field("envelope.statement", &self.envelope.statement)?,
            signature: field("envelope.signature", &self.envelope.signature)?,
        })
    }
}

/// DSSE's pre-authentication encoding, what the signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An in-toto statement about one file, compact, in the order clients write it.
pub fn statement(subjects: &[(String, String)], predicate_type: &str, predicate: Value) -> Vec<u8> {
    let subjects: Vec<String> = subjects
        .iter()
        .map(|(name, sha256)| {
            format!(
                "{{\"name\":{},\"digest\":{{\"sha256\":{}}}}}",
                Value::from(name.as_str()),
                Value::from(sha256.as_str())
            )
        })
        .collect();
    // Written by hand to keep the key order whatever serde_json's map does.
    format!(
        "{{\"_type\":{},\"subject\":[{}],\"predicateType\":{},\"predicate\":{}}}",
        Value::from(STATEMENT_TYPE),
        subjects.join(","),
        Value::from(predicate_type),
        predicate
    )
    .into_bytes()
}

/// A certificate as PEM exactly as Python's `cryptography` writes it (64 columns, LF,
/// trailing newline): the log entry's body holds it and verifiers compare bytes.
pub fn certificate_pem(der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der), config)
}

/// The canonicalized body of a Rekor `dsse` 0.0.1 entry (compact, keys sorted).
pub fn dsse_body(statement: &[u8], signature: &[u8], certificate_der: &[u8]) -> Vec<u8> {
    let sig = STANDARD.encode(signature);
    let envelope = format!(
        "{{\"payload\":{},\"payloadType\":{},\"signatures\":[{{\"sig\":{}}}]}}",
        Value::from(STANDARD.encode(statement)),
        Value::from(DSSE_PAYLOAD_TYPE),
        Value::from(sig.clone())
    );
    format!(
        "{{\"apiVersion\":\"0.0.1\",\"kind\":\"dsse\",\"spec\":{{\"envelopeHash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}},\"payloadHash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}},\"signatures\":[{{\"signature\":{},\"verifier\":{}}}]}}}}",
        hex::encode(Sha256::digest(envelope.as_bytes())),
        hex::encode(Sha256::digest(statement)),
        Value::from(sig),
        Value::from(STANDARD.encode(certificate_pem(certificate_der)))
    )
    .into_bytes()
}

/// A Rekor v1 answer (`{uuid: {body, integratedTime, logID, logIndex, verification}}`)
/// as the transparency entry a bundle and a PEP 740 attestation carry.
pub fn bundle_entry_from_rekor(answer: &Value) -> Result<Value, String> {
    let (_, e) = answer
        .as_object()
        .and_then(|m| m.iter().next())
        .ok_or("the log's answer holds no entry")?;
    let text = |v: &Value, name: &str| -> Result<String, String> {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(format!("the log's answer has no '{name}'"))
    };
    let int = |v: &Value, name: &str| -> Result<String, String> {
        v.get(name)
            .and_then(Value::as_i64)
            .map(|n| n.to_string())
            .ok_or(format!("the log's answer has no '{name}'"))
    };
    let b64_of_hex = |h: &str| -> Result<String, String> {
        hex::decode(h)
            .map(|b| STANDARD.encode(b))
            .map_err(|e| format!("not hex: {e}"))
    };
    let proof = e
        .pointer("/verification/inclusionProof")
        .ok_or("the log's answer has no inclusion proof")?;
    let hashes = proof
        .get("hashes")
        .and_then(Value::as_array)
        .ok_or("the inclusion proof has no hashes")?
        .iter()
        .map(|h| b64_of_hex(h.as_str().unwrap_or("")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "logIndex": int(e, "logIndex")?,
        "logId": {"keyId": b64_of_hex(&text(e, "logID")?)?},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": int(e, "integratedTime")?,
        "inclusionPromise": {"signedEntryTimestamp": text(e.get("verification").unwrap_or(&Value::Null), "signedEntryTimestamp")?},
        "inclusionProof": {
            "logIndex": int(proof, "logIndex")?,
            "rootHash": b64_of_hex(&text(proof, "rootHash")?)?,
            "treeSize": int(proof, "treeSize")?,
            "hashes": hashes,
            "checkpoint": {"envelope": text(proof, "checkpoint")?},
        },
        "canonicalizedBody": text(e, "body")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_and_statement_shapes() {
        assert_eq!(pae("t", b"hello"), b"DSSEv1 1 t 5 hello".to_vec());
        let s = statement(
            &[("a-1.0.tar.gz".into(), "ab".into())],
            SLSA_PROVENANCE_V1,
            Value::Null,
        );
        assert_eq!(
            String::from_utf8(s).unwrap(),
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a-1.0.tar.gz","digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":null}"#
        );
        assert_eq!(supported(SLSA_PROVENANCE_V1), Some("SLSA provenance v1"));
        assert_eq!(supported("https://example.com/other"), None);
    }
}
