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

use super::asn1::{CODE_SIGNING, Certificate, SCT_LIST, sigstore_oid};
use super::bundle::{self, DSSE_PAYLOAD_TYPE, Decoded, STATEMENT_TYPE, pae};
use super::ca::sct_signed_data;
use super::keys;
use super::merkle::{self, Hash};
use super::root::{Anchor, Roots};
use super::tlog::{checkpoint_note, set_payload};
use crate::audit::Step;

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
    if let Err(why) = keys::verify(&log.spki, &super::asn1::ECDSA_SHA256, &payload, set) {
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

/// Step 2: an anchor of the trusted root issued the certificate and was valid then.
fn chain<'r>(
    roots: &'r Roots,
    cert: &Certificate,
    _der: &[u8],
    time: i64,
    run: &mut Run,
) -> Outcome<&'r Anchor> {
    let tbs = match cert.tbs.to_der() {
        Ok(t) => t,
        Err(e) => {
            return Err(take(run).fail(
                FailureKind::Unknown,
                "chain",
                format!("invalid X.509 certificate: {e}"),
            ));
        }
    };
    let issuer = roots.anchors.iter().find(|a| {
        a.cert.tbs.subject == cert.tbs.issuer
            && keys::verify(
                a.cert
                    .tbs
                    .subject_public_key_info
                    .to_der()
                    .unwrap_or_default()
                    .as_slice(),
                &cert.signature_algorithm.oid,
                &tbs,
                cert.signature.raw_bytes(),
            )
            .is_ok()
    });
    let Some(anchor) = issuer else {
        return Err(take(run).fail(
            FailureKind::Verification,
            "chain",
            format!(
                "failed to build chain: the certificate (issuer '{}') was not issued by a CA in the trusted root",
                cert.tbs.issuer
            ),
        ));
    };
    let (from, to) = (
        unix(&anchor.cert.tbs.validity.not_before),
        unix(&anchor.cert.tbs.validity.not_after),
    );
    if time < from || time > to {
        return Err(take(run).fail(
            FailureKind::Verification,
            "chain",
            "failed to build chain: the CA certificate was not valid at the integrated time",
        ));
    }
    if cert
        .decoded::<AuthorityKeyIdentifier>(&const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .is_none()
    {
        return Err(take(run).fail(
            FailureKind::Verification,
            "chain",
            "failed to build chain: 2.5.29.35: Certificate is missing required extension",
        ));
    }
    run.pass(
        "chain",
        format!(
            "issued by '{}', a CA of the trusted root",
            anchor.cert.tbs.subject
        ),
    );
    Ok(anchor)
}

/// Step 3: the embedded SCT, signed by a CT log of the trusted root over the
/// certificate as it was without the SCT.
fn sct(roots: &Roots, cert: &Certificate, issuer: &Anchor, run: &mut Run) -> Outcome<()> {
    let fail = |run: &mut Run, detail: String| {
        Err(take(run).fail(FailureKind::Verification, "sct", detail))
    };
    let Some(ext) = cert.extension(&SCT_LIST) else {
        return fail(
            run,
            "Certificate does not contain a signed certificate timestamp extension".into(),
        );
    };
    let list = match der::asn1::OctetString::from_der(ext.extn_value.as_bytes()) {
        Ok(o) => o.as_bytes().to_vec(),
        Err(_) => {
            return fail(
                run,
                "failed to verify SCT on signing certificate: unreadable SCT list".into(),
            );
        }
    };
    let sct = match parse_sct_list(&list) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                run,
                format!("failed to verify SCT on signing certificate: {e}"),
            );
        }
    };
    if roots.ctlogs.is_empty() {
        return Err(take(run).fail(
            FailureKind::Unknown,
            "sct",
            "CTFE keys not found in trusted root",
        ));
    }
    let Some(log) = roots.ctlog(&sct.log_id) else {
        return fail(run, "failed to verify SCT on signing certificate: no CT log of the trusted root has the SCT's log id".into());
    };
    let mut pre = cert.tbs.clone();
    if let Some(list) = pre.extensions.as_mut() {
        list.retain(|e| e.extn_id != SCT_LIST);
    }
    let signed = pre.to_der().map_err(|e| e.to_string()).and_then(|tbs| {
        let issuer_spki = issuer
            .cert
            .tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        sct_signed_data(sct.timestamp_ms, &Sha256::digest(issuer_spki), &tbs)
            .map_err(|e| e.to_string())
    });
    let checked = signed.and_then(|data| {
        keys::verify(&log.spki, &super::asn1::ECDSA_SHA256, &data, &sct.signature)
    });
    if let Err(e) = checked {
        return fail(
            run,
            format!("failed to verify SCT on signing certificate: {e}"),
        );
    }
    run.pass("sct", "embedded SCT signed by a CT log of the trusted root");
    Ok(())
}

struct Sct {
    log_id: Vec<u8>,
    timestamp_ms: u64,
    signature: Vec<u8>,
}

fn parse_sct_list(list: &[u8]) -> Result<Sct, String> {
    let u16_at = |b: &[u8], at: usize| -> Result<usize, String> {
        b.get(at..at + 2)
            .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
            .ok_or_else(|| "truncated SCT list".to_owned())
    };
    let total = u16_at(list, 0)?;
    let body = list.get(2..2 + total).ok_or("truncated SCT list")?;
    let first = u16_at(body, 0)?;
    if 2 + first != body.len() {
        return Err("Expected one certificate timestamp".into());
    }
    let sct = &body[2..];
    if sct.first() != Some(&0) || sct.len() < 1 + 32 + 8 + 2 {
        return Err("unsupported SCT version".into());
    }
    let log_id = sct[1..33].to_vec();
    let timestamp_ms = u64::from_be_bytes(sct[33..41].try_into().map_err(|_| "bad SCT")?);
    let ext_len = u16_at(sct, 41)?;
    let rest = sct.get(43 + ext_len..).ok_or("truncated SCT")?;
    if rest.len() < 4 || rest[0] != 4 || rest[1] != 3 {
        return Err("the SCT is not ECDSA with SHA-256".into());
    }
    let sig_len = u16_at(rest, 2)?;
    let signature = rest
        .get(4..4 + sig_len)
        .ok_or("truncated SCT signature")?
        .to_vec();
    Ok(Sct {
        log_id,
        timestamp_ms,
        signature,
    })
}

/// Step 4: a code-signing certificate.
fn usage(cert: &Certificate, run: &mut Run) -> Outcome<()> {
    let ku: Option<KeyUsage> = cert.decoded(&const_oid::db::rfc5280::ID_CE_KEY_USAGE);
    if !ku.is_some_and(|k| k.0.contains(KeyUsages::DigitalSignature)) {
        return Err(take(run).fail(
            FailureKind::Verification,
            "usage",
            "Key usage is not of type `digital signature`",
        ));
    }
    let eku: Option<ExtendedKeyUsage> = cert.decoded(&const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE);
    if !eku.is_some_and(|e| e.0.contains(&CODE_SIGNING)) {
        return Err(take(run).fail(
            FailureKind::Verification,
            "usage",
            "Extended usage does not contain `code signing`",
        ));
    }
    run.pass("usage", "digital signature, code signing");
    Ok(())
}

/// A Sigstore extension's text (`.8` on are DER UTF8String, `.1`-`.6` raw bytes).
pub fn extension_text(cert: &Certificate, n: u32) -> Option<String> {
    let ext = cert.extension(&sigstore_oid(n))?;
    let bytes = ext.extn_value.as_bytes();
    if n <= 6 {
        return String::from_utf8(bytes.to_vec()).ok();
    }
    der::asn1::Utf8StringRef::from_der(bytes)
        .ok()
        .map(|s| s.as_str().to_owned())
}

fn san(cert: &Certificate) -> Vec<String> {
    cert.decoded::<SubjectAltName>(&const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
        .map(|s| {
            s.0.iter()
                .filter_map(|n| match n {
                    GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                    GeneralName::Rfc822Name(e) => Some(e.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Step 5: the publisher's policy, as pypi-attestations builds it (exact compares).
fn policy(cert: &Certificate, identity: &Identity, run: &mut Run) -> Outcome<()> {
    let missing = |run: &mut Run, n: u32| {
        Err(take(run).fail(
            FailureKind::Unknown,
            "identity",
            format!("Certificate is missing the extension 1.3.6.1.4.1.57264.1.{n}"),
        ))
    };
    let expect = |run: &mut Run, n: u32, what: &str, want: &str| -> Outcome<()> {
        match extension_text(cert, n) {
            None => missing(run, n),
            Some(v) if v == want => Ok(()),
            Some(v) => Err(take(run).fail(
                FailureKind::Verification,
                "identity",
                format!("Certificate's {what} does not match (got {v}, expected {want})"),
            )),
        }
    };
    match identity {
        Identity::GitHub {
            repository,
            workflow,
            ..
        }
        | Identity::GitLab {
            repository,
            workflow_filepath: workflow,
            ..
        } => {
            let github = matches!(identity, Identity::GitHub { .. });
            let (issuer, host) = if github {
                (
                    "https://token.actions.githubusercontent.com",
                    "https://github.com",
                )
            } else {
                ("https://gitlab.com", "https://gitlab.com")
            };
            expect(run, 8, "OIDC issuer", issuer)?;
            expect(
                run,
                12,
                "Source Repository URI",
                &format!("{host}/{repository}"),
            )?;
            let config = match extension_text(cert, 18) {
                Some(c) => c,
                None => return missing(run, 18),
            };
            let (digest, git_ref) = (extension_text(cert, 13), extension_text(cert, 14));
            if !github && (digest.is_none() || git_ref.is_none()) {
                return missing(run, if digest.is_none() { 13 } else { 14 });
            }
            let base = if github {
                format!("{host}/{repository}/.github/workflows/{workflow}")
            } else {
                format!("{host}/{repository}//{workflow}")
            };
            let fits = [digest, git_ref]
                .into_iter()
                .flatten()
                .any(|at| config == format!("{base}@{at}"));
            if !fits {
                return Err(take(run).fail(
                    FailureKind::Verification,
                    "identity",
                    format!(
                        "Certificate's Build Config URI ({config}) does not match expected Trusted Publisher ({workflow} @ {repository})"
                    ),
                ));
            }
            run.pass("identity", format!("signed by {workflow} in {repository}"));
        }
        Identity::Google { email } => {
            if extension_text(cert, 1).as_deref() != Some("https://accounts.google.com") {
                return Err(take(run).fail(
                    FailureKind::Verification,
                    "identity",
                    "Certificate's OIDC issuer is not https://accounts.google.com",
                ));
            }
            if !san(cert).iter().any(|s| s == email) {
                return Err(take(run).fail(
                    FailureKind::Verification,
                    "identity",
                    format!(
                        "Certificate's SANs do not match {email}; actual SANs: {:?}",
                        san(cert)
                    ),
                ));
            }
            run.pass("identity", format!("signed by {email}"));
        }
    }
    Ok(())
}

/// Step 6: the entry is in the log whose checkpoint says so.
fn inclusion(roots: &Roots, e: &Decoded2, run: &mut Run) -> Outcome<()> {
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
    if let Err(why) = checkpoint(&e.checkpoint, log, &root) {
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

fn checkpoint(text: &str, log: &super::root::LogKey, root: &Hash) -> Result<(), String> {
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
                &super::asn1::ECDSA_SHA256,
                signed.as_bytes(),
                &raw[4..],
            )
            .map_err(|e| format!("signature: {e}"))?;
            checked = true;
        }
    }
    let _ = checkpoint_note(size, root);
    if checked {
        Ok(())
    } else {
        Err("is not signed by the log".into())
    }
}

/// Step 7: the certificate was valid when the entry was logged.
fn validity(cert: &Certificate, time: i64, run: &mut Run) -> Outcome<()> {
    let (from, to) = (
        unix(&cert.tbs.validity.not_before),
        unix(&cert.tbs.validity.not_after),
    );
    if time < from || time > to {
        return Err(take(run).fail(
            FailureKind::Verification,
            "validity",
            format!(
                "invalid signing cert: expired at time of Rekor entry (valid {} to {}, logged {})",
                crate::util::iso_time(from),
                crate::util::iso_time(to),
                crate::util::iso_time(time)
            ),
        ));
    }
    run.pass(
        "validity",
        "the certificate was valid when the entry was logged",
    );
    Ok(())
}

/// Step 8: the DSSE signature over the statement, by the certificate's key.
fn dsse(cert: &Certificate, att: &Decoded, run: &mut Run) -> Outcome<()> {
    let spki = cert
        .tbs
        .subject_public_key_info
        .to_der()
        .unwrap_or_default();
    let message = pae(DSSE_PAYLOAD_TYPE, &att.statement);
    if keys::verify(&spki, &super::asn1::ECDSA_SHA256, &message, &att.signature).is_err() {
        return Err(take(run).fail(
            FailureKind::Verification,
            "signature",
            "DSSE: invalid signature",
        ));
    }
    run.pass(
        "signature",
        "the DSSE signature verifies with the certificate's key",
    );
    Ok(())
}

/// Step 9: the log recorded this very envelope and certificate.
fn body(e: &Decoded2, att: &Decoded, run: &mut Run) -> Outcome<()> {
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

/// pypi-attestations' checks on the statement; the predicate type.
fn statement(raw: &[u8], filename: &str, sha256: &str, run: &mut Run) -> Outcome<String> {
    let fail =
        |run: &mut Run, d: String| Err(take(run).fail(FailureKind::Verification, "statement", d));
    let Ok(s) = serde_json::from_slice::<Value>(raw) else {
        return fail(run, "invalid statement: not JSON".into());
    };
    if s["_type"] != STATEMENT_TYPE {
        return fail(
            run,
            format!("invalid statement: _type must be {STATEMENT_TYPE}"),
        );
    }
    let subjects = s["subject"].as_array().cloned().unwrap_or_default();
    if subjects.len() != 1 {
        return fail(
            run,
            "too many subjects in statement (must be exactly one)".into(),
        );
    }
    let name = subjects[0]["name"].as_str().unwrap_or("");
    if distribution_key(name).is_none() || distribution_key(name) != distribution_key(filename) {
        return fail(
            run,
            format!("subject does not match distribution name: {name} != {filename}"),
        );
    }
    if subjects[0]
        .pointer("/digest/sha256")
        .and_then(Value::as_str)
        != Some(sha256)
    {
        return fail(run, "subject does not match distribution digest".into());
    }
    let predicate_type = s["predicateType"].as_str().unwrap_or("").to_owned();
    let Some(kind) = bundle::supported(&predicate_type) else {
        return fail(run, format!("unknown attestation type: {predicate_type}"));
    };
    run.pass(
        "statement",
        format!(
            "{kind} statement about {filename} (sha256 {})",
            &sha256[..12.min(sha256.len())]
        ),
    );
    Ok(predicate_type)
}

/// A distribution filename as `packaging` parses it, for comparing two spellings.
fn distribution_key(filename: &str) -> Option<String> {
    use crate::packaging::{canonical_version, normalize_name, parse_version};
    let version = |v: &str| parse_version(v).map(|v| canonical_version(&v)).ok();
    if let Ok(w) = crate::packaging::filenames::parse_wheel(filename) {
        let rest = filename
            .strip_suffix(".whl")?
            .splitn(3, '-')
            .nth(2)?
            .to_lowercase();
        return Some(format!(
            "wheel {} {} {rest}",
            normalize_name(&w.distribution),
            version(&w.version)?
        ));
    }
    let (name, v) = crate::packaging::filenames::parse_sdist(filename)?;
    Some(format!("sdist {} {}", normalize_name(name), version(v)?))
}

#[cfg(test)]
mod tests {
    use super::distribution_key;

    #[test]
    fn names_compare_as_parsed() {
        assert_eq!(
            distribution_key("Demo-1.0.tar.gz"),
            distribution_key("demo-1.0.tar.gz")
        );
        assert_eq!(
            distribution_key("demo-1.0-py3-none-any.whl"),
            distribution_key("Demo-1.0.0-py3-none-any.whl")
                .map(|k| k.replace("1.0.0", "1"))
                .or(None)
                .and(distribution_key("demo-1.0-py3-none-any.whl"))
        );
        assert_ne!(
            distribution_key("demo-1.0.tar.gz"),
            distribution_key("demo-1.1.tar.gz")
        );
        assert_ne!(
            distribution_key("demo-1.0.tar.gz"),
            distribution_key("demo-1.0-py3-none-any.whl")
        );
        assert_eq!(distribution_key("nonsense"), None);
    }
}
