//! The legacy upload (`POST /legacy/`, Warehouse's upload API) as a domain: reading
//! the multipart form (`form`), the checks in Warehouse's order with Warehouse's
//! messages (`validate`), the decision that strings them together (`check`), pure but
//! for the archive inspection, which reads the staged file off the reactor, and the
//! domain shell that runs them with the store (`uploader`). The handler
//! (`http::upload`) only reads the request and shapes the answer.

pub mod attestations;
mod check;
pub mod form;
mod uploader;
mod validate;

pub use uploader::{BeforeStore, Turn, UploadPolicy, Uploader};
