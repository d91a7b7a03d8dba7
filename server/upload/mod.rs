//! The legacy upload (`POST /legacy/`, Warehouse's upload API) as a domain: reading
//! the multipart form (`form`), the checks in Warehouse's order with Warehouse's
//! messages (`validate`), and the decision that strings them together (`check`), pure
//! but for the archive inspection, which reads the staged file off the reactor. The
//! handler (`http::upload`) only sequences these with the store.

pub mod attestations;
mod check;
pub mod form;
mod validate;

pub use check::{answer, check_form, check_target, inspect, prohibited_name, refusal_for};

/// Appended to refusals, as Warehouse points at its help page.
pub const HELP: &str = "See the mock-pypi README (Troubleshooting) for more information.";
