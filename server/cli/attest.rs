//! `mock-pypi attest FILE…`: in a CI job's environment (what `mock-pypi env …`
//! prints), sign each distribution as the publish action does with Sigstore: an
//! ephemeral key, a certificate from the fake CA for the job's identity, a DSSE-signed
//! in-toto statement about the file, recorded in the fake transparency log; written
//! as `<file>.publish.attestation` (PEP 740). `--bad-attestation` writes one PyPI must refuse.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::target::Target;
use crate::sigstore::bundle::{self, DSSE_PAYLOAD_TYPE, SLSA_PROVENANCE_V1};
use crate::sigstore::keys::EcKey;

#[derive(Args, Debug)]
pub struct AttestArgs {
    #[command(flatten)]
    pub target: Target,
    /// Distributions to attest (`<file>.publish.attestation` is written beside each).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// What to attest: PyPI's publish/v1 or SLSA provenance v1 (`<file>.slsa.attestation`).
    #[arg(long, value_enum, default_value_t = Predicate::Publish)]
    pub predicate: Predicate,
    /// The publish/v1 predicate type URI [default: read from the installed
    /// pypi-attestations]. Checked against the digest PyPI's type has.
    #[arg(long, env = "MOCK_PYPI_PUBLISH_PREDICATE_TYPE")]
    pub predicate_type: Option<String>,
    /// The fake Sigstore's base URL [default: MOCK_PYPI_SIGSTORE_URL, else server.json].
    #[arg(long, env = "MOCK_PYPI_SIGSTORE_URL")]
    pub sigstore_url: Option<String>,
    /// An OIDC token with audience `sigstore` [default: SIGSTORE_ID_TOKEN, else asked
    /// from the GitHub job's token endpoint].
    #[arg(long, env = "SIGSTORE_ID_TOKEN", hide_env_values = true)]
    pub identity_token: Option<String>,
    /// Write a deliberately broken attestation (`--fault` is a hidden alias, kept for
    /// one release).
    #[arg(long, value_enum, alias = "fault")]
    pub bad_attestation: Option<BadAttestation>,
    /// Replace attestation files that exist (the publish action refuses to).
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Predicate {
    Publish,
    Slsa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BadAttestation {
    /// The subject's digest is another file's.
    WrongDigest,
    /// The subject names another distribution.
    WrongFilename,
    /// The statement has two subjects.
    TwoSubjects,
    /// A predicate type PyPI does not know.
    UnknownPredicate,
    /// Signed with a certificate for another workflow of the repository.
    OtherIdentity,
    /// The certificate had expired before the signing was logged.
    ExpiredCertificate,
    /// The signing was never logged (no transparency entry).
    NoLogEntry,
    /// The signature was altered after logging.
    TamperedSignature,
    /// Certified by a CA the trusted root does not list.
    UntrustedCa,
}

impl BadAttestation {
    /// The bad certificate the fake CA makes, if this one is the CA's.
    fn bad_certificate(self) -> Option<&'static str> {
        match self {
            Self::OtherIdentity => Some("other-identity"),
            Self::ExpiredCertificate => Some("expired-certificate"),
            Self::UntrustedCa => Some("untrusted-ca"),
            _ => None,
        }
    }
}

pub async fn attest(args: AttestArgs) -> anyhow::Result<()> {
    let http = crate::http_client::cli()?;
    let info = args.target.info().ok();
    let sigstore = args
        .sigstore_url
        .clone()
        .or_else(|| info.as_ref().and_then(|i| i.sigstore_url.clone()))
        .context("no fake Sigstore URL: run in the environment `mock-pypi env …` prints, or pass --sigstore-url")?;
    let sigstore = sigstore.trim_end_matches('/').to_owned();
    let (predicate_type, suffix) = match args.predicate {
        Predicate::Publish => (
            publish_predicate_type(args.predicate_type.as_deref())?,
            "publish",
        ),
        Predicate::Slsa => (SLSA_PROVENANCE_V1.to_owned(), "slsa"),
    };
    let mut jobs = Vec::new();
    for file in &args.files {
        let out = attestation_path(file, suffix)?;
        if out.exists() && !args.overwrite {
            anyhow::bail!(
                "{} exists already (pass --overwrite to replace it)",
                out.display()
            );
        }
        jobs.push((file.clone(), out));
    }
    let token = identity_token(&http, args.identity_token.as_deref()).await?;
    let claims = claims_of(&token)?;
    // One key and certificate for every file, as a Sigstore signing session does.
    let key = EcKey::generate()?;
    let cert = certificate(
        &http,
        &sigstore,
        &token,
        &claims,
        &key,
        args.bad_attestation,
    )
    .await?;
    for (file, out) in jobs {
        let attestation = attest_one(
            &http,
            &sigstore,
            &key,
            &cert,
            &file,
            &predicate_type,
            &claims,
            args.bad_attestation,
        )
        .await
        .with_context(|| format!("attesting {}", file.display()))?;
        tokio::fs::write(&out, attestation)
            .await
            .with_context(|| format!("writing {}", out.display()))?;
        println!("{}", out.display());
    }
    Ok(())
}

fn attestation_path(file: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} is not a file name", file.display()))?;
    Ok(file.with_file_name(format!("{name}.{suffix}.attestation")))
}

/// PyPI's publish/v1 predicate type: given, else read from the installed
/// pypi-attestations (the project does not write the URI down; see `bundle`).
fn publish_predicate_type(given: Option<&str>) -> anyhow::Result<String> {
    let found = match given {
        Some(t) => t.to_owned(),
        None => {
            let python = std::env::var("MOCK_PYPI_PYTHON").unwrap_or_else(|_| "python3".into());
            let out = std::process::Command::new(&python)
                .args([
                    "-c",
                    "from pypi_attestations import AttestationType as T; print(T.PYPI_PUBLISH_V1.value)",
                ])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .context("the publish/v1 predicate type is unknown: install pypi-attestations (pip install pypi-attestations) or pass --predicate-type")?;
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };
    anyhow::ensure!(
        bundle::is_publish_v1(&found),
        "'{found}' is not PyPI's publish/v1 predicate type"
    );
    Ok(found)
}

/// A token with audience `sigstore`: given, or asked from a GitHub job's endpoint.
async fn identity_token(http: &reqwest::Client, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(token) = given.filter(|t| !t.is_empty()) {
        return Ok(token.to_owned());
    }
    let url = std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL").context(
        "no identity token: set SIGSTORE_ID_TOKEN, or run in a GitHub job's environment (`mock-pypi env github …`)",
    )?;
    let secret = std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .context("ACTIONS_ID_TOKEN_REQUEST_URL is set but ACTIONS_ID_TOKEN_REQUEST_TOKEN is not")?;
    let mut url = url::Url::parse(&url).context("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "audience")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("audience", crate::issuer::sigstore::http::AUDIENCE);
    let answer: Value = checked(http.get(url).bearer_auth(secret)).await?;
    answer["value"]
        .as_str()
        .map(str::to_owned)
        .context("the token endpoint answered without a token")
}

/// The token's claims, unverified (the CA verifies the token).
fn claims_of(token: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let payload = token
        .split('.')
        .nth(1)
        .context("the identity token is not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("the identity token's payload is not base64url")?;
    Ok(serde_json::from_slice(&bytes)?)
}

async fn checked(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!(
            "{status}: {}",
            body.get("message")
                .and_then(Value::as_str)
                .unwrap_or("request failed")
        );
    }
    Ok(body)
}

/// A signing certificate (DER) from the fake CA, with a proof of possession of `key`.
async fn certificate(
    http: &reqwest::Client,
    sigstore: &str,
    token: &str,
    claims: &serde_json::Map<String, Value>,
    key: &EcKey,
    bad: Option<BadAttestation>,
) -> anyhow::Result<Vec<u8>> {
    let subject = claims
        .get("sub")
        .or(claims.get("email"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let proof = key.sign(subject.as_bytes())?;
    let public = pem::encode(&pem::Pem::new("PUBLIC KEY", key.spki_der()));
    let mut url = format!("{sigstore}/fulcio/api/v2/signingCert");
    if let Some(f) = bad.and_then(BadAttestation::bad_certificate) {
        url += &format!("?bad_certificate={f}");
    }
    let answer = checked(http.post(url).json(&json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": public},
            "proofOfPossession": STANDARD.encode(proof),
        },
    })))
    .await
    .context("the fake CA refused")?;
    let leaf = answer
        .pointer("/signedCertificateEmbeddedSct/chain/certificates/0")
        .and_then(Value::as_str)
        .context("the CA answered without a certificate")?;
    Ok(pem::parse(leaf)?.contents().to_vec())
}

#[allow(clippy::too_many_arguments)]
async fn attest_one(
    http: &reqwest::Client,
    sigstore: &str,
    key: &EcKey,
    cert: &[u8],
    file: &Path,
    predicate_type: &str,
    claims: &serde_json::Map<String, Value>,
    bad: Option<BadAttestation>,
) -> anyhow::Result<String> {
    let bytes = tokio::fs::read(file).await?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .context("not a file name")?
        .to_owned();
    let digest = hex::encode(Sha256::digest(&bytes));
    let mut subjects = vec![(name.clone(), digest.clone())];
    let mut predicate_type = predicate_type.to_owned();
    match bad {
        Some(BadAttestation::WrongDigest) => {
            subjects[0].1 = hex::encode(Sha256::digest([&bytes[..], b"!"].concat()))
        }
        Some(BadAttestation::WrongFilename) => subjects[0].0 = format!("not{name}"),
        Some(BadAttestation::TwoSubjects) => subjects.push((format!("{name}.copy"), digest)),
        Some(BadAttestation::UnknownPredicate) => {
            predicate_type = "https://mock-pypi.invalid/attestations/unknown/v1".into()
        }
        _ => {}
    }
    let predicate = if predicate_type == SLSA_PROVENANCE_V1 {
        slsa_predicate(claims)
    } else {
        Value::Null
    };
    let statement = bundle::statement(&subjects, &predicate_type, predicate);
    let mut signature = key.sign(&bundle::pae(DSSE_PAYLOAD_TYPE, &statement))?;
    let entries = if bad == Some(BadAttestation::NoLogEntry) {
        Vec::new()
    } else {
        vec![log(http, sigstore, &statement, &signature, cert).await?]
    };
    if bad == Some(BadAttestation::TamperedSignature)
        && let Some(byte) = signature.get_mut(8)
    {
        *byte ^= 0x01;
    }
    // Compact, in pypi-attestations' key order.
    Ok(format!(
        "{{\"version\":1,\"verification_material\":{{\"certificate\":{},\"transparency_entries\":{}}},\"envelope\":{{\"statement\":{},\"signature\":{}}}}}",
        Value::from(STANDARD.encode(cert)),
        Value::Array(entries),
        Value::from(STANDARD.encode(&statement)),
        Value::from(STANDARD.encode(&signature)),
    ))
}

/// Record the signing in the fake log; the entry as the attestation carries it.
async fn log(
    http: &reqwest::Client,
    sigstore: &str,
    statement: &[u8],
    signature: &[u8],
    cert: &[u8],
) -> anyhow::Result<Value> {
    let envelope = json!({
        "payload": STANDARD.encode(statement),
        "payloadType": DSSE_PAYLOAD_TYPE,
        "signatures": [{"sig": STANDARD.encode(signature)}],
    });
    let answer = checked(
        http.post(format!("{sigstore}/rekor/api/v1/log/entries"))
            .json(&json!({
                "kind": "dsse",
                "apiVersion": "0.0.1",
                "spec": {"proposedContent": {
                    "envelope": envelope.to_string(),
                    "verifiers": [STANDARD.encode(bundle::certificate_pem(cert))],
                }},
            })),
    )
    .await
    .context("the fake transparency log refused")?;
    bundle::bundle_entry_from_rekor(&answer).map_err(anyhow::Error::msg)
}

/// A minimal SLSA provenance v1 predicate for the job.
fn slsa_predicate(claims: &serde_json::Map<String, Value>) -> Value {
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    json!({
        "buildDefinition": {
            "buildType": "https://mock-pypi.invalid/buildtypes/ci-job/v1",
            "externalParameters": {
                "repository": text("repository"),
                "workflow_ref": text("workflow_ref"),
                "project_path": text("project_path"),
            },
            "resolvedDependencies": [],
        },
        "runDetails": {
            "builder": {"id": text("iss")},
            "metadata": {"invocationId": text("run_id")},
        },
    })
}
