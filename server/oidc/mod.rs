//! Trusted publishing: verify an OIDC token from a trusted issuer, match it to a
//! publisher and mint a short-lived upload token (PyPI's `/_/oidc/*` endpoints).

pub mod activestate;
pub mod buildkite;
pub mod circleci;
pub mod discovery;
pub mod exchange;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod jwks;
pub mod jwt;
pub mod matching;
pub mod publisher;
pub mod rules;
pub mod semaphore;
pub mod trust;

/// Largest mint/burn request body; tokens are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
