//! The upload's `attestations` field (PEP 740), checked as PyPI checks it: only with a
//! trusted-publishing token, not for ActiveState publishers, a JSON list of at most
//! two attestations, each verified against the trusted Sigstore roots for the
//! publisher that minted the token, at most one per predicate type. Pure and
//! CPU-bound: the handler runs it off the reactor.

use serde_json::json;

use crate::audit::{AttestationCheck, AttestationReport};
use crate::oidc::publisher::{Publisher, PublisherConfig};
use crate::sigstore::bundle::{self, Attestation};
use crate::sigstore::root::Roots;
use crate::sigstore::verify::{self, FailureKind, Identity};
use crate::store::StoredAttestations;

/// What PyPI puts before every reason.
pub const PREFIX: &str = "Invalid attestations supplied during upload: ";

/// The identity PyPI verifies attestations against, for a publisher that has one.
pub fn identity(publisher: &Publisher) -> Option<Identity> {
    let environment = |e: &str| (!e.is_empty()).then(|| e.to_owned());
    match &publisher.config {
        PublisherConfig::GitHub(c) => Some(Identity::GitHub {
            repository: format!("{}/{}", c.repository_owner, c.repository_name),
            workflow: c.workflow_filename.clone(),
            environment: environment(&c.environment),
        }),
        PublisherConfig::GitLab(c) => Some(Identity::GitLab {
            repository: format!("{}/{}", c.namespace, c.project),
            workflow_filepath: c.workflow_filepath.clone(),
            environment: environment(&c.environment),
        }),
        PublisherConfig::Google(c) => Some(Identity::Google {
            email: c.email.clone(),
        }),
        // Neither ActiveState nor the preview providers define an attestation identity.
        PublisherConfig::ActiveState(_)
        | PublisherConfig::Buildkite(_)
        | PublisherConfig::CircleCi(_)
        | PublisherConfig::Semaphore(_) => None,
    }
}

/// Who uploaded: the token's kind and, for a trusted-publishing token, its publisher.
pub struct UploadedBy<'a> {
    pub oidc: bool,
    pub publisher: Option<&'a Publisher>,
}

/// Check the field for the file `filename` (SHA-256 `sha256`). `Err` is PyPI's reason,
/// to follow [`PREFIX`].
pub fn check(
    field: &str,
    uploaded_by: &UploadedBy<'_>,
    roots: &Roots,
    filename: &str,
    sha256: &str,
) -> Result<StoredAttestations, String> {
    let publisher = match (uploaded_by.oidc, uploaded_by.publisher) {
        (true, Some(p)) => p,
        _ => return Err("Attestations are only supported when using Trusted Publishing".into()),
    };
    let Some(identity) = identity(publisher) else {
        return Err(format!(
            "Attestations are not currently supported with {} publishers",
            publisher.provider.display()
        ));
    };
    let attestations: Vec<Attestation> =
        serde_json::from_str(field).map_err(|e| format!("Malformed attestations: {e}"))?;
    let decoded = attestations
        .iter()
        .map(Attestation::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("Malformed attestations: {e}"))?;
    if decoded.is_empty() {
        return Err("Malformed attestations: an empty attestation set is not permitted".into());
    }
    if decoded.len() > 2 {
        return Err("A maximum of 2 attestations per file are supported".into());
    }
    let mut seen: Vec<String> = Vec::new();
    let mut report = Vec::new();
    for att in &decoded {
        let verified = verify::verify(roots, att, &identity, filename, sha256).map_err(|f| {
            match f.kind {
                FailureKind::Verification => format!(
                    "Could not verify the uploaded artifact using the included attestation: Verification failed: {}",
                    f.detail
                ),
                FailureKind::Unknown => format!(
                    "Unknown error while trying to verify included attestations: {}",
                    f.detail
                ),
            }
        })?;
        if bundle::supported(&verified.predicate_type).is_none() {
            return Err(format!(
                "Attestation with unsupported predicate type: {}",
                verified.predicate_type
            ));
        }
        if seen.contains(&verified.predicate_type) {
            return Err(format!(
                "Multiple attestations for the same file with the same predicate type ({}) are not supported",
                verified.predicate_type
            ));
        }
        report.push(AttestationCheck {
            kind: bundle::supported(&verified.predicate_type).map(str::to_owned),
            predicate_type: verified.predicate_type.clone(),
            steps: verified.steps,
        });
        seen.push(verified.predicate_type);
    }
    // PyPI stores the parsed attestations, re-serialised, in one bundle for the publisher.
    let provenance = json!({
        "version": 1,
        "attestation_bundles": [{"publisher": identity, "attestations": attestations}],
    });
    Ok(StoredAttestations {
        provenance: provenance.to_string(),
        report: AttestationReport(report),
    })
}
