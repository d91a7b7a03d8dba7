//! Faults on demand for the index (and the embedded issuer), as data and decisions:
//! definitions (`spec`) parsed with the field at fault named (`parse`), the engine
//! that arms them, counts requests and picks the fault that fires (`engine`, which
//! also keeps the files a stale-page fault hides), and the named scenarios. Pure: what
//! a fired fault does on the wire, and its record, live in `http::faults`.

pub mod engine;
mod parse;
pub mod scenarios;
pub mod spec;
#[cfg(test)]
mod tests;

pub use engine::{Faults, Fired, MatchCtx};
pub use spec::{Action, Close, FaultSpec, Route, Style};
