//! The README's walkthrough, run as a newcomer would on a fresh clone: the server started
//! as Terminal 1 shows (the built binary for `cargo run --release --`, a free port for
//! 8000), then every `sh` block of the section, in order, in one shell, as Terminal 2.
//! The banner's next steps must be the ones the README prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{ROOT, binary, tempdir, venv, wait_for_server};

/// The text of the section that starts with `heading`, up to the next `## `.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme.find(heading).expect("the walkthrough section");
    let rest = &readme[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The bodies of the fenced blocks of one language, in order.
fn blocks<'a>(text: &'a str, language: &str) -> Vec<&'a str> {
    let fence = format!("```{language}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&fence) {
        let body = &rest[at + fence.len()..];
        let end = body.find("```").expect("a closed block");
        out.push(&body[..end]);
        rest = &body[end + 3..];
    }
    out
}

/// A fresh clone's working directory with a server started as Terminal 1 shows; the
/// shell blocks of `heading`'s section run in it, in order, in one shell. The output.
fn run_section(readme: &str, heading: &str, extra_path: &[PathBuf]) -> String {
    let walkthrough = section(readme, "## Walkthrough: a trusted publish with uv");
    let console = blocks(walkthrough, "console")[0];
    let start = console
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("$ cargo run --release -- "))
        .expect("Terminal 1 starts the server with cargo run");
    // A fresh clone: the repository's files the commands name, nothing else.
    let work = tempdir();
    for name in ["demo", "fixtures", "examples"] {
        std::os::unix::fs::symlink(Path::new(ROOT).join(name), work.path().join(name)).unwrap();
    }
    std::fs::create_dir(work.path().join("home")).unwrap();
    let mut path: Vec<String> = vec![
        binary().parent().unwrap().display().to_string(),
        venv().join("bin").display().to_string(),
    ];
    path.extend(extra_path.iter().map(|p| p.display().to_string()));
    path.extend(["/usr/bin".to_owned(), "/bin".to_owned()]);
    let path = path.join(":");
    let banner = work.path().join("banner.txt");
    let mut server = Command::new(binary())
        .args(start.split_whitespace())
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(work.path())
        .env_clear()
        .env("PATH", &path)
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&banner).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info = wait_for_server(&work.path().join(".mock-pypi"), server.id()).expect("server up");
    let port = info["http_url"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let ours = |text: &str| text.replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));

    // The banner tells the newcomer what the README tells them, and nothing that fails.
    // The banner follows server.json: wait for it (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let printed = loop {
        let text = std::fs::read_to_string(&banner).unwrap();
        if text.contains("uv publish") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let next = printed
        .split("Next,")
        .nth(1)
        .expect("the banner's next steps");
    let shown = console
        .split("Next,")
        .nth(1)
        .expect("the README's next steps");
    assert_eq!(next.trim(), ours(shown).trim(), "banner:\n{printed}");

    let script = blocks(section(readme, heading), "sh")
        .iter()
        .map(|b| ours(b))
        .collect::<Vec<_>>()
        .join("\n");
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env_clear()
        .env("PATH", &path)
        .env("HOME", work.path().join("home"))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success(),
        "{heading} failed:\n{script}\n---\n{out}"
    );
    out
}

#[test]
fn the_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let out = run_section(&readme, "## Walkthrough: a trusted publish with uv", &[]);
    // Each step did what the README says it does.
    assert!(
        out.contains("\"project\": \"demo\""),
        "publisher list:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.trim() == "1.0.0"),
        "the installed demo:\n{out}"
    );
    assert!(
        out.contains("\"outcome\": \"accepted\""),
        "the exchanges:\n{out}"
    );
    assert!(
        out.contains("invalid-publisher")
            && out.contains("workflow is 'ci.yml' but the publisher expects 'release.yml'")
            && out.contains("refused, as PyPI would"),
        "the wrong workflow:\n{out}"
    );
}

#[test]
fn the_pipeline_section_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let gitlab_ci_local = std::env::var_os("MOCK_PYPI_TEST_GITLAB_CI_LOCAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(ROOT).join("target/gitlab-ci-local/node_modules/.bin/gitlab-ci-local")
        });
    assert!(
        gitlab_ci_local.exists(),
        "tests/run.sh installs gitlab-ci-local"
    );
    let out = run_section(
        &readme,
        "## Test your real pipeline",
        &[gitlab_ci_local.parent().unwrap().to_path_buf()],
    );
    // What the section shows and promises.
    let shown = "job publish on push (refs/tags/v1) to pypi: accepted";
    assert!(section(&readme, "## Test your real pipeline").contains(shown));
    assert!(out.contains(shown), "preflight:\n{out}");
    assert!(
        out.contains("environment is 'pypi' but the publisher expects 'staging'")
            && out.contains("refused, as PyPI would"),
        "{out}"
    );
    assert!(
        out.contains("publish: an OIDC token from the fake issuer")
            && out.contains("build: no OIDC token"),
        "act:\n{out}"
    );
    assert!(
        out.contains("Job succeeded") && out.contains("PASS  publish"),
        "act and gitlab-ci-local:\n{out}"
    );
}
