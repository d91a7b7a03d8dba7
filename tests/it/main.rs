//! Every integration test, as one binary: one link instead of eighteen, and every test
//! in one process so they run side by side. API-level suites start the server in this
//! process (`common::Server::spawn`); the others run the real binary
//! (`common::Server::start`), as the CLI, real clients, signals and replicas need.

use test_support as common;

mod act;
mod api_tokens;
mod attestations;
mod audit;
mod burn;
mod classroom;
mod client_failures;
mod clients;
mod compose_topology;
mod config;
mod conformance;
mod conformance_2026;
mod dashboard;
mod e2e_providers;
mod e2e_uv;
mod faults;
mod gitlab_ci_local;
mod index;
mod issuer_and_cli;
mod issuer_faults;
mod late_2026;
mod preflight;
mod preview;
mod pypi_2026;
mod readme;
mod release_workflow;
mod replicas;
mod report_card;
mod shared_data_dir;
mod small_files;
mod testpypi;
mod twine;
mod upload;
mod verification;
mod workshop;
