//! The shared test harness: the server under test (`server`), a database per server on
//! the PostgreSQL test cluster (`pg`), real clients with clean environments (`clients`),
//! real distributions (`dists`) and hand-made uploads (`uploads`).

pub mod clients;
pub mod dists;
pub mod pg;
pub mod publishing;
pub mod server;
pub mod uploads;

pub use clients::*;
pub use pg::postgres_database;
pub use server::{Server, serve_command, tempdir, wait_for_server};

pub const FIXTURE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/keys/issuer-test-key.pem"
);
pub const OTHER_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/keys/other-test-key.pem"
);

/// The `export NAME='value'` lines `mock-pypi env …` prints, parsed.
pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').replace(r"'\''", "'")))
        .collect()
}
