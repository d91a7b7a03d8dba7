//! mock-pypi: a local stand-in for PyPI's Trusted Publishing path.
//!
//! Follow one publish through the modules in this order: `issuer` (the fake CI
//! provider signs an OIDC token) → `oidc` (the index checks the issuer, key,
//! signature and claims, then matches a publisher) → `tokens` (a short-lived upload
//! token) → `upload` (the legacy upload, streamed and validated) → `store` (rows and
//! content-addressed files) → `index` (what pip and uv read). `app` wires the router
//! and the HTTP+HTTPS listener; `control` is the `/_mock/api` control plane.

pub mod audit;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod http;
pub mod http_client;
pub mod index;
pub mod issuer;
pub mod listener;
pub mod oidc;
pub mod packaging;
pub mod provider;
pub mod proxy;
pub mod run;
pub mod server_info;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod upload;
pub mod util;
