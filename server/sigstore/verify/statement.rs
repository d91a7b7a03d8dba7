//! The signed content's steps: the DSSE signature over the statement, and the
//! statement naming this distribution and its digest.

use super::*;

/// Step 8: the DSSE signature over the statement, by the certificate's key.
pub(super) fn dsse(cert: &Certificate, att: &Decoded, run: &mut Run) -> Outcome<()> {
    let spki = cert
        .tbs
        .subject_public_key_info
        .to_der()
        .unwrap_or_default();
    let message = pae(DSSE_PAYLOAD_TYPE, &att.statement);
    if keys::verify(
        &spki,
        &crate::sigstore::asn1::ECDSA_SHA256,
        &message,
        &att.signature,
    )
    .is_err()
    {
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

/// pypi-attestations' checks on the statement; the predicate type.
pub(super) fn statement(
    raw: &[u8],
    filename: &str,
    sha256: &str,
    run: &mut Run,
) -> Outcome<String> {
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

/// A distribution filename as `packaging` parses it, for comparing two spellings as
/// pypi-attestations does: the normalized name, the version as a version (1.0 is
/// 1.0.0), a wheel's build tag and its expanded set of tags.
#[derive(Debug, PartialEq)]
pub(super) enum DistributionKey {
    Wheel {
        name: String,
        version: pep440_rs::Version,
        build: Option<String>,
        tags: std::collections::BTreeSet<String>,
    },
    Sdist {
        name: String,
        version: pep440_rs::Version,
    },
}

pub(super) fn distribution_key(filename: &str) -> Option<DistributionKey> {
    use crate::packaging::{normalize_name, parse_version};
    if let Ok(w) = crate::packaging::filenames::parse_wheel(filename) {
        let parts: Vec<&str> = filename.strip_suffix(".whl")?.split('-').collect();
        let n = parts.len();
        let split = |i: usize| parts[i].split('.').map(str::to_lowercase);
        let tags = split(n - 3)
            .flat_map(|py| {
                split(n - 2).flat_map(move |abi| {
                    let py = py.clone();
                    split(n - 1).map(move |plat| format!("{py}-{abi}-{plat}"))
                })
            })
            .collect();
        return Some(DistributionKey::Wheel {
            name: normalize_name(&w.distribution),
            version: parse_version(&w.version).ok()?,
            build: (n == 6).then(|| parts[2].to_owned()),
            tags,
        });
    }
    let (name, v) = crate::packaging::filenames::parse_sdist(filename)?;
    Some(DistributionKey::Sdist {
        name: normalize_name(name),
        version: parse_version(v).ok()?,
    })
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
        // Versions compare as versions: 1.0 is 1.0.0.
        assert!(distribution_key("demo-1.0-py3-none-any.whl").is_some());
        assert_eq!(
            distribution_key("demo-1.0-py3-none-any.whl"),
            distribution_key("Demo-1.0.0-py3-none-any.whl")
        );
        assert_ne!(
            distribution_key("demo-1.0.tar.gz"),
            distribution_key("demo-1.1.tar.gz")
        );
        assert_ne!(
            distribution_key("demo-1.0.tar.gz"),
            distribution_key("demo-1.0-py3-none-any.whl")
        );
        // Compressed tag sets compare as sets; a build tag counts.
        assert_eq!(
            distribution_key("demo-1.0-py2.py3-none-any.whl"),
            distribution_key("demo-1.0-py3.py2-none-any.whl")
        );
        assert_ne!(
            distribution_key("demo-1.0-py3-none-any.whl"),
            distribution_key("demo-1.0-1-py3-none-any.whl")
        );
        assert_ne!(
            distribution_key("demo-1.0-py3-none-any.whl"),
            distribution_key("demo-1.0-py2-none-any.whl")
        );
        assert_eq!(distribution_key("nonsense"), None);
    }
}
