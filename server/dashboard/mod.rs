//! The dashboard's pages, built from the same typed data the control API serialises
//! (audit details, publishers, rows): server-rendered, no JavaScript, readable on a
//! workshop projector and on a phone. The handlers that load the data are in
//! `http::dashboard`.

mod faults;
pub(crate) mod time;
mod views;
mod workshop;

pub use faults::*;
pub use time::When;
pub use views::*;
pub use workshop::*;

/// Where the dashboard is mounted.
pub const BASE: &str = "/_mock/dashboard";
