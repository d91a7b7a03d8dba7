//! Sigstore as PyPI's verifier sees it: the wire formats (`bundle`, `wire`, `asn1`,
//! `keys`, `merkle`), the trusted roots (`root`), and the verification of PEP 740
//! attestations step by step (`verify`). The fake Fulcio and Rekor that produce what
//! this checks live beside the fake issuer, in `issuer::sigstore`.

pub mod asn1;
pub mod bundle;
pub mod keys;
pub mod merkle;
pub mod root;
pub mod verify;
pub mod wire;
