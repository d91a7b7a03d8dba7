//! The certificate authority in Fulcio's image: one self-signed root that issues
//! ten-minute code-signing certificates with an empty subject, the identity in the
//! SAN and Sigstore's extensions, and an SCT from the fake CT log embedded (signed
//! over the certificate as it is without the SCT, as RFC 6962 precertificates are).

use std::str::FromStr;
use std::time::Duration;

use der::Encode;
use der::asn1::{BitString, Ia5String, Int, OctetString, UtcTime, Utf8StringRef};
use sha2::{Digest, Sha256};
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::time::Time;

use super::identity::{CertIdentity, San};
use crate::sigstore::asn1::{
    CODE_SIGNING, Certificate, SCT_LIST, TbsCertificate, Validity, ecdsa_sha256, extension,
    raw_extension, sigstore_oid,
};
use crate::sigstore::keys::EcKey;
use crate::sigstore::wire::sct_signed_data;

pub const ROOT_SUBJECT: &str = "CN=mock-fulcio-root,O=mock-pypi";
/// Fulcio's certificates live ten minutes.
pub const LEAF_LIFETIME: i64 = 600;

fn time(unix: i64) -> anyhow::Result<Time> {
    let secs = u64::try_from(unix).map_err(|_| anyhow::anyhow!("time before 1970"))?;
    Ok(Time::UtcTime(UtcTime::from_unix_duration(
        Duration::from_secs(secs),
    )?))
}

fn serial() -> anyhow::Result<Int> {
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(Int::new(&bytes)?)
}

fn key_identifier(spki_der: &[u8]) -> anyhow::Result<OctetString> {
    // RFC 5280's method 1 is SHA-1 of the key bits; any unique value is allowed.
    Ok(OctetString::new(&Sha256::digest(spki_der)[..20])?)
}

fn sign(tbs: TbsCertificate, key: &EcKey) -> anyhow::Result<Vec<u8>> {
    let signature = key.sign(&tbs.to_der()?)?;
    Ok(Certificate {
        tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(&signature)?,
    }
    .to_der()?)
}

/// A self-signed CA certificate for `key`, valid from `not_before` for ten years.
pub fn root_certificate(key: &EcKey, not_before: i64) -> anyhow::Result<Vec<u8>> {
    let subject = Name::from_str(ROOT_SUBJECT)?;
    let ski = key_identifier(key.spki_der())?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial()?,
        signature: ecdsa_sha256(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: time(not_before)?,
            not_after: time(not_before + 10 * 365 * 86_400)?,
        },
        subject,
        subject_public_key_info: key.spki()?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![
            extension(
                const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(1),
                },
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                &SubjectKeyIdentifier(ski),
            )?,
        ]),
    };
    sign(tbs, key)
}

/// What a leaf certificate says, beyond its identity.
pub struct LeafRequest<'a> {
    /// The ephemeral signing key's DER SubjectPublicKeyInfo.
    pub spki_der: &'a [u8],
    pub identity: &'a CertIdentity,
    pub not_before: i64,
    pub not_after: i64,
}

/// The CA: its key and certificate, and the CT log's key for the embedded SCT.
pub struct Authority {
    pub key: EcKey,
    pub cert_der: Vec<u8>,
    pub ct_key: EcKey,
}

impl Authority {
    /// Issue a leaf certificate (DER) with an embedded SCT.
    pub fn issue(&self, request: &LeafRequest<'_>) -> anyhow::Result<Vec<u8>> {
        let ca = Certificate::parse(&self.cert_der)?;
        let leaf_spki = spki::SubjectPublicKeyInfoOwned::try_from(request.spki_der)?;
        let mut extensions = vec![
            extension(
                const_oid::db::rfc5280::ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::DigitalSignature.into()),
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE,
                false,
                &ExtendedKeyUsage(vec![CODE_SIGNING]),
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                &SubjectKeyIdentifier(key_identifier(request.spki_der)?),
            )?,
            extension(
                const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(key_identifier(self.key.spki_der())?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
            )?,
            // The subject is empty, so the SAN must be critical (RFC 5280 4.2.1.6).
            extension(
                const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
                true,
                &SubjectAltName(vec![match &request.identity.san {
                    San::Uri(uri) => GeneralName::UniformResourceIdentifier(Ia5String::new(uri)?),
                    San::Email(email) => GeneralName::Rfc822Name(Ia5String::new(email)?),
                }]),
            )?,
        ];
        extensions.extend(sigstore_extensions(request.identity)?);
        let mut tbs = TbsCertificate {
            version: Version::V3,
            serial_number: serial()?,
            signature: ecdsa_sha256(),
            issuer: ca.tbs.subject.clone(),
            validity: Validity {
                not_before: time(request.not_before)?,
                not_after: time(request.not_after)?,
            },
            subject: Name::default(),
            subject_public_key_info: leaf_spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let sct = self.sct(&tbs.to_der()?, request.not_before)?;
        if let Some(list) = tbs.extensions.as_mut() {
            list.push(sct);
        }
        sign(tbs, &self.key)
    }

    /// The SCT extension for a certificate whose TBS (without the SCT) is `tbs_der`.
    fn sct(&self, tbs_der: &[u8], at: i64) -> anyhow::Result<Extension> {
        let timestamp_ms = u64::try_from(at)? * 1000;
        let signed = sct_signed_data(timestamp_ms, &Sha256::digest(self.key.spki_der()), tbs_der)?;
        let signature = self.ct_key.sign(&signed)?;
        let mut sct = vec![0u8]; // v1
        sct.extend_from_slice(&self.ct_key.key_id());
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        sct.extend_from_slice(&[4, 3]); // SHA-256, ECDSA
        sct.extend_from_slice(&u16::try_from(signature.len())?.to_be_bytes());
        sct.extend_from_slice(&signature);
        let mut list = u16::try_from(sct.len() + 2)?.to_be_bytes().to_vec();
        list.extend_from_slice(&u16::try_from(sct.len())?.to_be_bytes());
        list.extend_from_slice(&sct);
        Ok(raw_extension(
            SCT_LIST,
            false,
            &OctetString::new(list)?.to_der()?,
        )?)
    }
}

/// Sigstore's extensions: `.1`-`.6` as raw bytes (deprecated), `.8` on as DER UTF8String.
fn sigstore_extensions(identity: &CertIdentity) -> anyhow::Result<Vec<Extension>> {
    let mut out = Vec::new();
    for (n, value) in &identity.raw {
        out.push(raw_extension(sigstore_oid(*n), false, value.as_bytes())?);
    }
    for (n, value) in &identity.utf8 {
        out.push(extension(
            sigstore_oid(*n),
            false,
            &Utf8StringRef::new(value)?,
        )?);
    }
    Ok(out)
}
