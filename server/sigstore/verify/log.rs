//! The transparency log's steps: the inclusion proof against a signed checkpoint, and
//! the logged body naming this signature and certificate.

use super::*;

/// Step 6: the entry is in the log whose checkpoint says so.
pub(super) fn inclusion(roots: &Roots, e: &Decoded2, run: &mut Run) -> Outcome<()> {
    let fail = |run: &mut Run, detail: String| {
        Err(take(run).fail(FailureKind::Verification, "inclusion", detail))
    };
    let hashes: Result<Vec<Hash>, _> = e
        .hashes
        .iter()
        .map(|h| Hash::try_from(h.as_slice()))
        .collect();
    let (Ok(hashes), Ok(root)) = (hashes, Hash::try_from(e.root.as_slice())) else {
        return fail(run, "invalid log entry: hashes must be 32 bytes".into());
    };
    let leaf = merkle::leaf_hash(&e.body);
    if let Err(why) = merkle::verify_inclusion(&leaf, e.proof_index, e.tree_size, &hashes, &root) {
        return fail(run, format!("invalid log entry: {why}"));
    }
    let Some(log) = roots.tlog(&e.key_id) else {
        return fail(run, "invalid log entry: unknown log".into());
    };
    if let Err(why) = checkpoint(&e.checkpoint, log, &root, e.tree_size) {
        return fail(run, format!("invalid log entry: checkpoint {why}"));
    }
    run.pass(
        "inclusion",
        format!(
            "entry {} of a {}-entry tree; the signed checkpoint names its root",
            e.proof_index, e.tree_size
        ),
    );
    Ok(())
}

pub(super) fn checkpoint(
    text: &str,
    log: &crate::sigstore::root::LogKey,
    root: &Hash,
    tree_size: u64,
) -> Result<(), String> {
    let (note, signatures) = text.split_once("\n\n").ok_or("is not a signed note")?;
    let mut lines = note.lines();
    let (_origin, size, root_b64) = (lines.next(), lines.next(), lines.next());
    let named_root = root_b64
        .and_then(|r| STANDARD.decode(r).ok())
        .ok_or("has no root hash")?;
    if named_root != root {
        return Err("names another root hash".into());
    }
    let size: u64 = size
        .and_then(|s| s.parse().ok())
        .ok_or("has no tree size")?;
    if size != tree_size {
        return Err(format!(
            "names a {size}-entry tree, the proof a {tree_size}-entry one"
        ));
    }
    let signed = format!("{note}\n");
    let mut checked = false;
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((_, sig_b64)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(raw) = STANDARD.decode(sig_b64) else {
            continue;
        };
        if raw.len() > 4 && raw[..4] == log.key_id[..4] {
            keys::verify(
                &log.spki,
                &crate::sigstore::asn1::ECDSA_SHA256,
                signed.as_bytes(),
                &raw[4..],
            )
            .map_err(|e| format!("signature: {e}"))?;
            checked = true;
        }
    }
    if checked {
        Ok(())
    } else {
        Err("is not signed by the log".into())
    }
}

/// Step 9: the log recorded this very envelope and certificate.
pub(super) fn body(e: &Decoded2, att: &Decoded, run: &mut Run) -> Outcome<()> {
    let fail = |run: &mut Run, d: &str| {
        Err(take(run).fail(FailureKind::Verification, "log body", d.to_owned()))
    };
    let Ok(body) = serde_json::from_slice::<Value>(&e.body) else {
        return fail(run, "invalid log entry: the body is not JSON");
    };
    if body["kind"] != "dsse" || body["apiVersion"] != "0.0.1" {
        return fail(run, "invalid log entry: not a dsse 0.0.1 entry");
    }
    if body
        .pointer("/spec/payloadHash/value")
        .and_then(Value::as_str)
        != Some(hex::encode(Sha256::digest(&att.statement)).as_str())
    {
        return fail(run, "log entry payload hash does not match bundle");
    }
    let expected = serde_json::json!([{
        "signature": STANDARD.encode(&att.signature),
        "verifier": STANDARD.encode(bundle::certificate_pem(&att.certificate)),
    }]);
    if body.pointer("/spec/signatures") != Some(&expected) {
        return fail(run, "log entry signatures do not match bundle");
    }
    run.pass(
        "log body",
        "the log entry records this signature and certificate",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::checkpoint;
    use crate::sigstore::keys::EcKey;
    use crate::sigstore::root::LogKey;
    use crate::sigstore::wire::{ORIGIN, checkpoint_note};

    /// A checkpoint signed by `key` for a tree of `size` entries with root `root`.
    fn signed(key: &EcKey, size: u64, root: &[u8; 32]) -> String {
        let note = checkpoint_note(size, root);
        let mut hinted = key.key_id()[..4].to_vec();
        hinted.extend_from_slice(&key.sign(note.as_bytes()).unwrap());
        format!("{note}\n\u{2014} {ORIGIN} {}\n", STANDARD.encode(hinted))
    }

    #[test]
    fn a_checkpoint_must_name_the_proofs_root_and_size_and_be_signed_by_the_log() {
        let key = EcKey::generate().unwrap();
        let log = LogKey {
            key_id: key.key_id(),
            spki: key.spki_der().to_vec(),
        };
        let root = [7u8; 32];
        assert_eq!(checkpoint(&signed(&key, 5, &root), &log, &root, 5), Ok(()));
        // Each rule broken once: another size, another root, another signer.
        assert_eq!(
            checkpoint(&signed(&key, 4, &root), &log, &root, 5),
            Err("names a 4-entry tree, the proof a 5-entry one".into())
        );
        assert_eq!(
            checkpoint(&signed(&key, 5, &[8u8; 32]), &log, &root, 5),
            Err("names another root hash".into())
        );
        let other = EcKey::generate().unwrap();
        assert!(checkpoint(&signed(&other, 5, &root), &log, &root, 5).is_err());
    }
}
