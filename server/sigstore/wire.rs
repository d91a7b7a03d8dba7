//! The byte layouts both sides of Sigstore sign and check: RFC 6962's SCT input, a
//! Rekor entry's SET payload and a checkpoint's signed note. The fake CA and log
//! (`issuer::sigstore`) produce them; the verifier (`verify`) recomputes them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::merkle::Hash;

/// The fake log's origin line in its checkpoints.
pub const ORIGIN: &str = "mock-rekor";

/// RFC 6962's `digitally-signed` struct for a precertificate entry.
pub fn sct_signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8],
    tbs_der: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(issuer_key_hash);
    let len = u32::try_from(tbs_der.len())?;
    anyhow::ensure!(len < 1 << 24, "certificate too large");
    signed.extend_from_slice(&len.to_be_bytes()[1..]);
    signed.extend_from_slice(tbs_der);
    signed.extend_from_slice(&0u16.to_be_bytes());
    Ok(signed)
}

/// The signed part of a checkpoint (signed-note format): origin, size, root.
pub fn checkpoint_note(size: u64, root: &Hash) -> String {
    format!("{ORIGIN}\n{size}\n{}\n", STANDARD.encode(root))
}

/// What a SET signs: RFC 8785 JSON of the entry's coordinates (keys already sorted).
pub fn set_payload(body_b64: &str, integrated_time: i64, log_id_hex: &str, index: u64) -> Vec<u8> {
    json!({"body": body_b64, "integratedTime": integrated_time, "logID": log_id_hex, "logIndex": index})
        .to_string()
        .into_bytes()
}
