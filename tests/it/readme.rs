//! The README's walkthrough, run as a newcomer would on a fresh clone: the server started
//! as Terminal 1 shows (the built binary for `cargo run --release --`, a free port for
//! 8000), then every `sh` block of the section, in order, in one shell, as Terminal 2.
//! The banner's next steps must be the ones the README prints.

use std::path::Path;
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

#[test]
fn the_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let walkthrough = section(&readme, "## Walkthrough: a trusted publish with uv");
    let console = blocks(walkthrough, "console")[0];
    let start = console
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("$ cargo run --release -- "))
        .expect("Terminal 1 starts the server with cargo run");
    // A fresh clone: the repository's files the commands name, nothing else.
    let work = tempdir();
    for name in ["demo", "fixtures"] {
        std::os::unix::fs::symlink(Path::new(ROOT).join(name), work.path().join(name)).unwrap();
    }
    std::fs::create_dir(work.path().join("home")).unwrap();
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        binary().parent().unwrap().display(),
        venv().join("bin").display()
    );
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
    let printed = std::fs::read_to_string(&banner).unwrap();
    let next = printed
        .split("Next,")
        .nth(1)
        .expect("the banner's next steps");
    let shown = console
        .split("Next,")
        .nth(1)
        .expect("the README's next steps");
    assert_eq!(next.trim(), ours(shown).trim(), "banner:\n{printed}");

    let script = blocks(walkthrough, "sh")
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
        "the walkthrough failed:\n{script}\n---\n{out}"
    );
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
