//! mock-pypi: a local stand-in for PyPI's Trusted Publishing path.
//!
//! Follow one publish through the modules in this order: `issuer` (the fake CI
//! provider signs an OIDC token) → `http` (every route, in one place) → `oidc` (the
//! index checks the issuer, key, signature and claims, then matches a publisher: a pure
//! decision in `oidc::exchange::decide`) → `tokens` (a short-lived upload token) →
//! `upload` (the legacy upload, streamed and checked) → `store` (rows and
//! content-addressed files) → `index` (what pip and uv read). `startup` builds a server
//! from `config`; `state` is what handlers share; `services` are the operations the
//! control API, the dashboard and startup share; `audit` and `provider` are leaves. `sigstore` is the fake Sigstore beside the issuer
//! and the index's verifier of PEP 740 attestations.
//!
//! Public: what the binary, the tests and the benches use; everything else is
//! crate-private, so the compiler reports code nothing uses.

pub mod cli;
pub mod config;
pub mod issuer;
pub mod provider;
pub mod server_info;
pub mod startup;
pub mod tls;
pub mod util;

pub(crate) mod audit;
pub(crate) mod dashboard;
pub(crate) mod error;
pub(crate) mod fault_state;
pub(crate) mod faults;
pub(crate) mod http;
pub(crate) mod http_client;
pub(crate) mod index;
pub mod listener;
pub(crate) mod oidc;
pub(crate) mod packaging;
pub mod pipeline;
pub(crate) mod provenance;
pub(crate) mod proxy;
pub(crate) mod services;
pub(crate) mod sigstore;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod tokens;
pub(crate) mod upload;
pub(crate) mod workshop;
