//! The certificate's steps: its chain to a trusted anchor at the verified time, the
//! embedded SCT, key usage, the publisher's identity policy and its validity period.

use super::*;

/// Step 2: an anchor of the trusted root issued the certificate and was valid then.
pub(super) fn chain<'r>(
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
pub(super) fn sct(
    roots: &Roots,
    cert: &Certificate,
    issuer: &Anchor,
    run: &mut Run,
) -> Outcome<()> {
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
        keys::verify(
            &log.spki,
            &crate::sigstore::asn1::ECDSA_SHA256,
            &data,
            &sct.signature,
        )
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

pub(super) struct Sct {
    log_id: Vec<u8>,
    timestamp_ms: u64,
    signature: Vec<u8>,
}

pub(super) fn parse_sct_list(list: &[u8]) -> Result<Sct, String> {
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
pub(super) fn usage(cert: &Certificate, run: &mut Run) -> Outcome<()> {
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

pub(super) fn san(cert: &Certificate) -> Vec<String> {
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
pub(super) fn policy(cert: &Certificate, identity: &Identity, run: &mut Run) -> Outcome<()> {
    match identity {
        Identity::GitHub {
            repository,
            workflow,
            ..
        } => ci_policy(cert, true, repository, workflow, run),
        Identity::GitLab {
            repository,
            workflow_filepath,
            ..
        } => ci_policy(cert, false, repository, workflow_filepath, run),
        Identity::Google { email } => google_policy(cert, email, run),
    }
}

/// GitHub's and GitLab's publisher policy: issuer, source repository, and the build
/// config at the commit or ref that ran.
fn ci_policy(
    cert: &Certificate,
    github: bool,
    repository: &str,
    workflow: &str,
    run: &mut Run,
) -> Outcome<()> {
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
    Ok(())
}

/// Google's publisher policy: the issuer, and the service account among the SANs.
fn google_policy(cert: &Certificate, email: &str, run: &mut Run) -> Outcome<()> {
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
    Ok(())
}

/// Step 7: the certificate was valid when the entry was logged.
pub(super) fn validity(cert: &Certificate, time: i64, run: &mut Run) -> Outcome<()> {
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
