//! Verifying one PEP 740 attestation as PyPI does: sigstore-python's steps (verified
//! time from the signed entry timestamp, the chain at that time, the embedded SCT,
//! key usage, the publisher's identity policy, inclusion proof and checkpoint, the
//! certificate's validity at that time, the DSSE signature, the log body) and then
//! pypi-attestations' statement checks. Pure: no I/O. Each step is recorded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::{Decode, Encode};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};

use super::bundle::{self, DSSE_PAYLOAD_TYPE, Decoded, STATEMENT_TYPE, pae};
use super::keys;
use super::merkle::{self, Hash};
use super::root::{Anchor, Roots};
use super::wire::{sct_signed_data, set_payload};
use crate::audit::Step;
use crate::sigstore::asn1::{CODE_SIGNING, Certificate, SCT_LIST, sigstore_oid};

mod certificate;
mod log;
mod statement;

use certificate::{chain, policy, sct, usage, validity};
use log::{body, inclusion};
use statement::{dsse, statement};

/// Who may have signed: the trusted publisher that minted the upload token, as PyPI
/// turns it into a verification policy (pypi-attestations' publisher classes).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind")]
pub enum Identity {
    GitHub {
        repository: String,
        workflow: String,
        environment: Option<String>,
    },
    GitLab {
        repository: String,
        workflow_filepath: String,
        environment: Option<String>,
    },
    Google {
        email: String,
    },
}

/// A verified attestation.
#[derive(Debug)]
pub struct Verified {
    pub predicate_type: String,
    pub steps: Vec<Step>,
}

/// Which of PyPI's two failure texts applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// `Could not verify the uploaded artifact using the included attestation:
    /// Verification failed: …`
    Verification,
    /// `Unknown error while trying to verify included attestations: …`
    Unknown,
}

#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

/// Strict form of a transparency entry (Sigstore's protobuf JSON: u64 as strings).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    log_index: String,
    log_id: LogId,
    kind_version: KindVersion,
    integrated_time: String,
    #[serde(default)]
    inclusion_promise: Option<Promise>,
    inclusion_proof: Proof,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Proof {
    log_index: String,
    root_hash: String,
    tree_size: String,
    hashes: Vec<String>,
    checkpoint: Checkpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    envelope: String,
}

struct Run {
    steps: Vec<Step>,
}

impl Run {
    fn pass(&mut self, step: &'static str, detail: impl Into<String>) {
        self.steps.push(Step::pass(step, detail));
    }

    fn fail(self, kind: FailureKind, step: &'static str, detail: impl Into<String>) -> Failure {
        let detail = detail.into();
        tracing::debug!(step, %detail, passed = ?self.steps, "attestation refused");
        Failure { kind, detail }
    }
}

type Outcome<T> = Result<T, Failure>;

/// Verify `att` for the file `filename` whose SHA-256 is `sha256`.
pub fn verify(
    roots: &Roots,
    att: &Decoded,
    identity: &Identity,
    filename: &str,
    sha256: &str,
) -> Result<Verified, Failure> {
    let mut run = Run { steps: Vec::new() };
    let Ok(cert) = Certificate::parse(&att.certificate) else {
        return Err(run.fail(
            FailureKind::Unknown,
            "certificate",
            "invalid X.509 certificate",
        ));
    };
    let Ok(entry) = serde_json::from_value::<Entry>(att.entry.clone()) else {
        return Err(run.fail(
            FailureKind::Unknown,
            "log entry",
            "invalid transparency log entry",
        ));
    };
    let entry = match decode_entry(&entry) {
        Ok(e) => e,
        Err(e) => return Err(run.fail(FailureKind::Unknown, "log entry", e)),
    };
    let time = verified_time(roots, &entry, &mut run)?;
    let anchor = chain(roots, &cert, &att.certificate, time, &mut run)?;
    sct(roots, &cert, anchor, &mut run)?;
    usage(&cert, &mut run)?;
    policy(&cert, identity, &mut run)?;
    inclusion(roots, &entry, &mut run)?;
    validity(&cert, time, &mut run)?;
    dsse(&cert, att, &mut run)?;
    body(&entry, att, &mut run)?;
    let predicate_type = statement(&att.statement, filename, sha256, &mut run)?;
    Ok(Verified {
        predicate_type,
        steps: run.steps,
    })
}

/// The entry with its numbers and bytes decoded.
struct Decoded2 {
    index: u64,
    key_id: Vec<u8>,
    integrated_time: i64,
    set: Option<Vec<u8>>,
    proof_index: u64,
    tree_size: u64,
    root: Vec<u8>,
    hashes: Vec<Vec<u8>>,
    checkpoint: String,
    body: Vec<u8>,
    body_b64: String,
    kind: (String, String),
}

fn decode_entry(e: &Entry) -> Result<Decoded2, String> {
    let num = |name: &str, v: &str| -> Result<u64, String> {
        v.parse()
            .map_err(|_| format!("invalid transparency log entry: {name} '{v}' is not a number"))
    };
    let b64 = |name: &str, v: &str| -> Result<Vec<u8>, String> {
        STANDARD
            .decode(v)
            .map_err(|_| format!("invalid transparency log entry: {name} is not base64"))
    };
    Ok(Decoded2 {
        index: num("logIndex", &e.log_index)?,
        key_id: b64("logId.keyId", &e.log_id.key_id)?,
        integrated_time: i64::try_from(num("integratedTime", &e.integrated_time)?)
            .map_err(|_| "invalid transparency log entry: integratedTime out of range")?,
        set: e
            .inclusion_promise
            .as_ref()
            .map(|p| b64("signedEntryTimestamp", &p.signed_entry_timestamp))
            .transpose()?,
        proof_index: num("inclusionProof.logIndex", &e.inclusion_proof.log_index)?,
        tree_size: num("inclusionProof.treeSize", &e.inclusion_proof.tree_size)?,
        root: b64("inclusionProof.rootHash", &e.inclusion_proof.root_hash)?,
        hashes: e
            .inclusion_proof
            .hashes
            .iter()
            .map(|h| b64("inclusionProof.hashes", h))
            .collect::<Result<_, _>>()?,
        checkpoint: e.inclusion_proof.checkpoint.envelope.clone(),
        body: b64("canonicalizedBody", &e.canonicalized_body)?,
        body_b64: e.canonicalized_body.clone(),
        kind: (e.kind_version.kind.clone(), e.kind_version.version.clone()),
    })
}

/// Step 1: the log's signed entry timestamp is the only source of verified time.
fn verified_time(roots: &Roots, e: &Decoded2, run: &mut Run) -> Outcome<i64> {
    if e.kind != ("dsse".to_owned(), "0.0.1".to_owned()) {
        return Err(take(run).fail(
            FailureKind::Verification,
            "time",
            format!("Unsupported DSSE log entry type: {}/{}", e.kind.0, e.kind.1),
        ));
    }
    let Some(set) = &e.set else {
        return Err(take(run).fail(
            FailureKind::Unknown,
            "time",
            "bundle must contain an inclusion promise or signed timestamp(s)",
        ));
    };
    let Some(log) = roots.tlog(&e.key_id) else {
        return Err(take(run).fail(
            FailureKind::Verification,
            "time",
            format!(
                "invalid log entry: no transparency log with key id {} in the trusted root",
                hex::encode(&e.key_id)
            ),
        ));
    };
    let payload = set_payload(
        &e.body_b64,
        e.integrated_time,
        &hex::encode(&e.key_id),
        e.index,
    );
    if let Err(why) = keys::verify(
        &log.spki,
        &crate::sigstore::asn1::ECDSA_SHA256,
        &payload,
        set,
    ) {
        return Err(take(run).fail(
            FailureKind::Verification,
            "time",
            format!("invalid log entry: the signed entry timestamp {why}"),
        ));
    }
    run.pass(
        "time",
        format!(
            "integrated into the log at {} (signed entry timestamp verifies)",
            crate::util::iso_time(e.integrated_time)
        ),
    );
    Ok(e.integrated_time)
}

fn take(run: &mut Run) -> Run {
    Run {
        steps: std::mem::take(&mut run.steps),
    }
}

fn unix(t: &x509_cert::time::Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}
