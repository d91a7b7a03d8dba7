//! The X.509 structures the fake CA writes and the verifier reads, as plain DER
//! types: the TBS certificate must be built (and, to check an embedded SCT, rebuilt
//! without that extension) field by field.

use der::asn1::{BitString, Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::time::Time;

#[derive(Clone, Debug, Sequence)]
pub struct Validity {
    pub not_before: Time,
    pub not_after: Time,
}

#[derive(Clone, Debug, Sequence)]
pub struct TbsCertificate {
    #[asn1(context_specific = "0", default = "Default::default")]
    pub version: Version,
    pub serial_number: Int,
    pub signature: AlgorithmIdentifierOwned,
    pub issuer: Name,
    pub validity: Validity,
    pub subject: Name,
    pub subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub issuer_unique_id: Option<BitString>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub subject_unique_id: Option<BitString>,
    #[asn1(context_specific = "3", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Sequence)]
pub struct Certificate {
    pub tbs: TbsCertificate,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: BitString,
}

pub const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// RFC 6962's embedded SCT list.
pub const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// Sigstore's arc: `1.3.6.1.4.1.57264.1.<n>`.
pub const SIGSTORE_ARC: &str = "1.3.6.1.4.1.57264.1";

pub fn sigstore_oid(n: u32) -> ObjectIdentifier {
    // The arc and a small number always form a valid OID.
    ObjectIdentifier::new(&format!("{SIGSTORE_ARC}.{n}"))
        .unwrap_or(ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1"))
}

pub fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_SHA256,
        parameters: None,
    }
}

/// An extension whose value is the DER of `value`.
pub fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// An extension with these raw bytes as its value.
pub fn raw_extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value)?,
    })
}

impl Certificate {
    pub fn parse(der: &[u8]) -> der::Result<Self> {
        Self::from_der(der)
    }

    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<&Extension> {
        self.tbs
            .extensions
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .find(|e| &e.extn_id == oid)
    }

    /// The extension's value decoded as `T`.
    pub fn decoded<'a, T: Decode<'a>>(&'a self, oid: &ObjectIdentifier) -> Option<T> {
        self.extension(oid)
            .and_then(|e| T::from_der(e.extn_value.as_bytes()).ok())
    }
}
