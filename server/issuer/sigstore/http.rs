//! The fake Sigstore's routes, mounted with the fake issuer under `/sigstore`:
//! Fulcio's `POST /fulcio/api/v2/signingCert`, Rekor's `POST /rekor/api/v1/log/entries`,
//! `GET /rekor/api/v1/log`, `GET /rekor/api/v1/log/entries?logIndex=N`, a listing at
//! `GET /rekor/api/v1/log/entries/list`, and `GET /trusted_root.json`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::BadCertificate;
use crate::issuer::Issuer;
use crate::sigstore::asn1::{Certificate, ECDSA_SHA256};
use crate::sigstore::bundle::{self, DSSE_PAYLOAD_TYPE};
use crate::sigstore::keys;

/// The audience Sigstore's CA expects in identity tokens.
pub const AUDIENCE: &str = "sigstore";

pub fn router() -> Router<Arc<Issuer>> {
    Router::new()
        .route("/sigstore/trusted_root.json", get(trusted_root))
        .route("/sigstore/fulcio/api/v2/signingCert", post(signing_cert))
        .route("/sigstore/fulcio/api/v1/rootCert", get(root_cert))
        .route("/sigstore/rekor/api/v1/log", get(log_info))
        .route(
            "/sigstore/rekor/api/v1/log/entries",
            post(log_entry).get(entry_by_index),
        )
        .route("/sigstore/rekor/api/v1/log/entries/list", get(list_entries))
}

/// A refusal, as Fulcio and Rekor answer them: `{"code", "message"}`.
#[derive(Debug)]
pub struct SigstoreError {
    status: StatusCode,
    message: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> SigstoreError {
    SigstoreError {
        status,
        message: message.into(),
    }
}

impl IntoResponse for SigstoreError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.status.as_u16(), "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

type Answer = Result<Response, SigstoreError>;

fn sigstore(issuer: &Issuer) -> Result<&super::Sigstore, SigstoreError> {
    issuer
        .sigstore()
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "this issuer runs no Sigstore"))
}

/// A proposed log entry, checked.
struct Proposed {
    statement: Vec<u8>,
    signature: Vec<u8>,
    cert_der: Vec<u8>,
}

async fn trusted_root(State(issuer): State<Arc<Issuer>>) -> Answer {
    let s = sigstore(&issuer)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        s.trusted_root.clone(),
    )
        .into_response())
}

async fn root_cert(State(issuer): State<Arc<Issuer>>) -> Answer {
    let s = sigstore(&issuer)?;
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        bundle::certificate_pem(s.ca_der()),
    )
        .into_response())
}

/// Fulcio v2: `{"credentials": {"oidcIdentityToken": T}, "publicKeyRequest":
/// {"publicKey": {"algorithm": "ECDSA", "content": PEM}, "proofOfPossession": SIG}}`,
/// the proof being the key's signature over the token's `sub`. `?bad_certificate=` asks for a
/// certificate PyPI must refuse.
async fn signing_cert(
    State(issuer): State<Arc<Issuer>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let s = sigstore(&issuer)?;
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    // `fault` until 0.2 (kept for one release).
    let fault = query
        .get("bad_certificate")
        .or(query.get("fault"))
        .map(|f| f.parse::<BadCertificate>())
        .transpose()
        .map_err(bad)?;
    let Json(body) = body.map_err(|_| bad("the body must be JSON".into()))?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_owned());
    let token = body
        .pointer("/credentials/oidcIdentityToken")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(bearer)
        .ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "no identity token (credentials.oidcIdentityToken)",
            )
        })?;
    let (provider, claims) = issuer.verify_own_token(&token, AUDIENCE).map_err(|e| {
        error(
            StatusCode::UNAUTHORIZED,
            format!("the identity token was refused: {e}"),
        )
    })?;
    let spki = proven_key(&body, &claims)?;
    let (leaf, ca) = s
        .issue(provider, &claims, &spki, fault)
        .await
        .map_err(bad)?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [
                bundle::certificate_pem(&leaf),
                bundle::certificate_pem(&ca),
            ]}}}),
        ),
    )
        .into_response())
}

/// The request's public key, once its proof of possession (a signature over the
/// token's subject) checks out.
fn proven_key(body: &Value, claims: &Map<String, Value>) -> Result<Vec<u8>, SigstoreError> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let pem_text = body
        .pointer("/publicKeyRequest/publicKey/content")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad("publicKeyRequest.publicKey.content (a PEM public key) is required".into())
        })?;
    let spki = match pem::parse(pem_text) {
        Ok(p) if p.tag() == "PUBLIC KEY" => p.contents().to_vec(),
        _ => {
            return Err(bad(
                "publicKeyRequest.publicKey.content is not a PEM 'PUBLIC KEY'".into(),
            ));
        }
    };
    let subject = claims
        .get("sub")
        .or(claims.get("email"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let proof = body
        .pointer("/publicKeyRequest/proofOfPossession")
        .and_then(Value::as_str)
        .and_then(|p| STANDARD.decode(p).ok())
        .unwrap_or_default();
    keys::verify(&spki, &ECDSA_SHA256, subject.as_bytes(), &proof).map_err(|e| {
        bad(format!(
            "the proof of possession (a signature over the token's subject) {e}"
        ))
    })?;
    Ok(spki)
}

/// Rekor v1: a proposed `dsse` 0.0.1 entry (`spec.proposedContent.envelope`, the DSSE
/// envelope as JSON text, and `verifiers`, base64 PEM certificates). The envelope's
/// signature must verify with the certificate.
async fn log_entry(
    State(issuer): State<Arc<Issuer>>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let s = sigstore(&issuer)?;
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let Json(body) = body.map_err(|_| bad("the body must be JSON".into()))?;
    if body["kind"] != "dsse" || body["apiVersion"] != "0.0.1" {
        return Err(bad(
            "this log records kind 'dsse', apiVersion '0.0.1'".into()
        ));
    }
    let p = proposed_dsse(&body).map_err(bad)?;
    let entry = s
        .log_dsse(&p.statement, &p.signature, &p.cert_der)
        .await
        .map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the log could not record the entry: {e}"),
            )
        })?;
    Ok((StatusCode::CREATED, Json(entry.to_rekor(&s.log.log_id()))).into_response())
}

/// The statement, signature and certificate of a proposed entry, checked.
fn proposed_dsse(body: &Value) -> Result<Proposed, String> {
    let content = body
        .pointer("/spec/proposedContent")
        .ok_or("spec.proposedContent is required")?;
    let envelope: Value = content["envelope"]
        .as_str()
        .and_then(|e| serde_json::from_str(e).ok())
        .ok_or("spec.proposedContent.envelope must be the DSSE envelope as JSON text")?;
    if envelope["payloadType"] != DSSE_PAYLOAD_TYPE {
        return Err(format!(
            "the envelope's payloadType must be {DSSE_PAYLOAD_TYPE}"
        ));
    }
    let b64 = |v: &Value, what: &str| {
        v.as_str()
            .and_then(|t| STANDARD.decode(t).ok())
            .ok_or(format!("{what} must be base64"))
    };
    let statement = b64(&envelope["payload"], "payload")?;
    let signatures = envelope["signatures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let [signature] = signatures.as_slice() else {
        return Err("the envelope must hold exactly one signature".into());
    };
    let signature = b64(&signature["sig"], "signatures[0].sig")?;
    let verifier = content["verifiers"]
        .as_array()
        .and_then(|v| v.first())
        .ok_or("spec.proposedContent.verifiers must name the signing certificate")?;
    let cert_pem =
        String::from_utf8(b64(verifier, "verifiers[0]")?).map_err(|_| "verifiers[0] is not PEM")?;
    let cert_der = pem::parse(&cert_pem)
        .map_err(|_| "verifiers[0] is not a PEM certificate")?
        .contents()
        .to_vec();
    let cert = Certificate::parse(&cert_der).map_err(|e| format!("verifiers[0]: {e}"))?;
    let spki = der::Encode::to_der(&cert.tbs.subject_public_key_info).map_err(|e| e.to_string())?;
    keys::verify(
        &spki,
        &ECDSA_SHA256,
        &bundle::pae(DSSE_PAYLOAD_TYPE, &statement),
        &signature,
    )
    .map_err(|e| format!("the envelope's signature {e} with the certificate's key"))?;
    Ok(Proposed {
        statement,
        signature,
        cert_der,
    })
}

fn internal(e: anyhow::Error) -> SigstoreError {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn log_info(State(issuer): State<Arc<Issuer>>) -> Answer {
    let s = sigstore(&issuer)?;
    let (size, root, checkpoint) = s.log.head().await.map_err(internal)?;
    Ok(Json(json!({
        "treeSize": size,
        "rootHash": hex::encode(root),
        "signedTreeHead": checkpoint,
        "treeID": "1",
    }))
    .into_response())
}

async fn entry_by_index(
    State(issuer): State<Arc<Issuer>>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let s = sigstore(&issuer)?;
    let index = query
        .get("logIndex")
        .and_then(|i| i.parse::<u64>().ok())
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "give ?logIndex=N"))?;
    match s.log.entry(index).await.map_err(internal)? {
        Some(entry) => Ok(Json(entry.to_rekor(&s.log.log_id())).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, format!("no entry {index}"))),
    }
}

/// Every entry, oldest first (`?offset=`, `?limit=` up to 1000), with the statement's
/// subjects decoded for people.
async fn list_entries(
    State(issuer): State<Arc<Issuer>>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let s = sigstore(&issuer)?;
    let offset: u64 = query
        .get("offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: u64 = query
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let (size, _, checkpoint) = s.log.head().await.map_err(internal)?;
    let mut entries = Vec::new();
    for index in offset..size.min(offset + limit) {
        if let Some(e) = s.log.entry(index).await.map_err(internal)? {
            let body: Value = serde_json::from_slice(&e.body).unwrap_or(Value::Null);
            entries.push(json!({
                "logIndex": e.index,
                "integratedTime": e.integrated_time,
                "payloadHash": body.pointer("/spec/payloadHash/value"),
                "body": body,
            }));
        }
    }
    Ok(
        Json(json!({"treeSize": size, "signedTreeHead": checkpoint, "entries": entries}))
            .into_response(),
    )
}
