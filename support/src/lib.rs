//! The shared test harness of mock-pypi, for its integration tests (`tests/it`) and its
//! bench (`benches/load.rs`): the server under test (`server`), a database per server
//! on the PostgreSQL test cluster (`pg`), real clients with clean environments
//! (`clients`), real distributions (`dists`), hand-made uploads (`uploads`) and the
//! client matrix's publishing steps (`publishing`).

pub mod clients;
pub mod dists;
pub mod pg;
pub mod publishing;
pub mod server;
pub mod uploads;

pub use clients::*;
pub use pg::postgres_database;
pub use server::{Server, free_port, serve_command, tempdir, wait_for_server};

/// The repository (this crate lives in its `support/`).
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

pub const FIXTURE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/keys/issuer-test-key.pem"
);
pub const OTHER_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/keys/other-test-key.pem"
);

/// The `target/<profile>` directory of the test or bench binary running now (it runs
/// from `target/<profile>/deps`), where cargo put the `mock-pypi` binary it built for it.
fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("a test binary runs from target/<profile>/deps")
        .to_path_buf()
}

/// The `mock-pypi` binary under test (the one cargo built with this test or bench).
pub fn binary() -> std::path::PathBuf {
    profile_dir().join("mock-pypi")
}

/// Where tests keep temporary directories (`target/tmp`, cargo's own choice for tests).
pub fn target_tmpdir() -> std::path::PathBuf {
    let dir = profile_dir()
        .parent()
        .expect("target/<profile> has a parent")
        .join("tmp");
    std::fs::create_dir_all(&dir).expect("target/tmp");
    dir
}

/// Run a command that must succeed; its stdout (its stderr in the panic otherwise).
pub fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("running the command");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `export NAME='value'` lines `mock-pypi env …` prints, parsed.
pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').replace(r"'\''", "'")))
        .collect()
}

/// A git repository at `dir` whose `origin` is `origin`, holding `files` (path →
/// contents), committed: what the pipeline commands read.
pub fn git_repo(dir: &std::path::Path, origin: &str, files: &[(&str, &str)]) {
    for (path, text) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("a file in a directory")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    for args in [
        &["init", "-q"][..],
        &["remote", "add", "origin", origin],
        &["add", "-A"],
        &["commit", "-qm", "files", "--allow-empty"],
    ] {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.email=ci@example.org", "-c", "user.name=ci"])
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
