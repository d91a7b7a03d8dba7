//! `mock-pypi preflight`: will this publish work on PyPI? Reads the repository's
//! workflows, its git remote and commit, and the publishers (a TOML file in the config
//! file's `[[publishers]]` form, a running server's, or `--publisher` flags), and prints
//! every publishing job's verdict and the pitfalls found. Exit 0 when every publishing
//! job would be accepted, 1 when any would not, 2 on bad input.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

use crate::oidc::publisher::{Publisher, PublisherConfig};
use crate::pipeline::github::{Event, Repo};
use crate::pipeline::preflight::{self, Inputs};
use crate::pipeline::workflow::{self, Workflow};
use crate::pipeline::yaml::BadInput;
use crate::pipeline::{remote, report};
use crate::provider::Provider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Args, Debug)]
pub struct PreflightArgs {
    /// The repository (its `.github/workflows/`, git remote and commit).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// A workflow file to check (repeatable) [default: every .yml/.yaml in .github/workflows].
    #[arg(long = "workflow")]
    pub workflows: Vec<PathBuf>,
    /// The event to judge [default: every event the workflow declares].
    #[arg(long)]
    pub event: Option<String>,
    /// The ref the event runs on [default: what the event implies, e.g. a tag for a tag push].
    #[arg(long = "ref")]
    pub git_ref: Option<String>,
    /// The event is a pull request from a fork.
    #[arg(long)]
    pub fork: bool,
    /// The publishers as registered on PyPI: a TOML file with `[[publishers]]` tables.
    #[arg(long, conflicts_with = "data_dir")]
    pub publishers: Option<PathBuf>,
    /// Read the publishers from the running server with this data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A publisher on the command line: `github:repository=OWNER/REPO,workflow_filename=release.yml,environment=pypi,project=NAME` (repeatable).
    #[arg(long = "publisher")]
    pub publisher: Vec<String>,
    /// `OWNER/REPO` [default: from the git remote `origin`].
    #[arg(long)]
    pub repository: Option<String>,
    /// Numeric ids [default: derived as publishers derive them].
    #[arg(long)]
    pub repository_owner_id: Option<String>,
    #[arg(long)]
    pub repository_id: Option<String>,
    /// The repository was created or renamed after 2026-07-15 (GitHub's immutable `sub`).
    #[arg(long)]
    pub immutable_sub: bool,
    /// The repository's customised subject (`include_claim_keys`, comma-separated).
    #[arg(long)]
    pub sub_claim_keys: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Run the check and exit with its verdict (2 for bad input).
pub async fn preflight(args: PreflightArgs) -> anyhow::Result<()> {
    let code = match run(&args).await {
        Ok((out, code)) => {
            print!("{out}");
            code
        }
        Err(e) => {
            eprintln!("mock-pypi preflight: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

async fn run(args: &PreflightArgs) -> anyhow::Result<(String, i32)> {
    let workflows = read_workflows(args)?;
    let repo = repo_facts(args)?;
    let (publishers, testpypi_publishers) = read_publishers(args).await?;
    let event = args.event.as_ref().map(|name| {
        let git_ref = args
            .git_ref
            .clone()
            .unwrap_or_else(|| crate::pipeline::github::default_ref(name, &[], &[]));
        Event {
            name: name.clone(),
            git_ref,
            fork: args.fork,
        }
    });
    if let Some(e) = &event
        && !workflow::known_event(&e.name)
    {
        anyhow::bail!(
            "--event: unknown event '{}' (push, release, workflow_dispatch, pull_request, pull_request_target, …)",
            e.name
        );
    }
    let report = preflight::check(&Inputs {
        repo: &repo,
        workflows: &workflows,
        event,
        publishers: &publishers,
        testpypi_publishers: &testpypi_publishers,
        issuer: Provider::GitHub.production_issuer(),
        now: crate::util::now(),
    });
    let code = report.exit_code();
    let out = match args.format {
        Format::Text => report::text(&report),
        Format::Json => format!("{:#}\n", report::json(&report)),
        Format::Sarif => {
            let lines = |file: &str, job: &str| {
                let id = job.split(" → ").next().unwrap_or(job);
                workflows
                    .iter()
                    .find(|w| w.path == file)
                    .and_then(|w| w.job(id))
                    .map_or(1, |j| j.line)
            };
            format!("{:#}\n", report::sarif(&report, &lines))
        }
    };
    Ok((out, code))
}

/// The workflow files named, else every one in `.github/workflows`, with paths relative
/// to the repository as GitHub names them.
fn read_workflows(args: &PreflightArgs) -> anyhow::Result<Vec<Workflow>> {
    let mut paths = args.workflows.clone();
    if paths.is_empty() {
        let dir = args.repo.join(".github/workflows");
        let entries = std::fs::read_dir(&dir).with_context(|| {
            format!("{}: no workflows to check (give --workflow)", dir.display())
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
                paths.push(p);
            }
        }
        paths.sort();
    }
    let mut out = Vec::new();
    for p in paths {
        let full = if p.is_absolute() || p.exists() {
            p.clone()
        } else {
            args.repo.join(&p)
        };
        let text = std::fs::read_to_string(&full).map_err(|e| {
            BadInput::new(&p.display().to_string(), 0, format!("cannot read it: {e}"))
        })?;
        let name = relative(&args.repo, &full);
        out.push(workflow::parse(&name, &text)?);
    }
    Ok(out)
}

fn relative(repo: &Path, file: &Path) -> String {
    let repo = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
    let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    file.strip_prefix(&repo)
        .map_or_else(|_| file.display().to_string(), |p| p.display().to_string())
}

fn repo_facts(args: &PreflightArgs) -> anyhow::Result<Repo> {
    let (owner, name) = match &args.repository {
        Some(r) => r
            .split_once('/')
            .map(|(o, n)| (o.to_owned(), n.to_owned()))
            .context("--repository takes OWNER/REPO")?,
        None => super::repo::git(&args.repo, &["remote", "get-url", "origin"])
            .as_deref()
            .and_then(remote::owner_repo)
            .context(
                "no git remote 'origin' to read OWNER/REPO from: give --repository OWNER/REPO",
            )?,
    };
    Ok(Repo {
        owner,
        name,
        owner_id: args.repository_owner_id.clone(),
        repo_id: args.repository_id.clone(),
        immutable_sub: args.immutable_sub,
        sub_claim_keys: args.sub_claim_keys.clone(),
        sha: super::repo::git(&args.repo, &["rev-parse", "HEAD"]),
    })
}

/// Publishers from a map in the config file's (and the control API's) form.
fn publisher(id: i64, map: &Map<String, Value>) -> anyhow::Result<Publisher> {
    let provider: Provider = map
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or("")
        .parse()
        .map_err(|e: String| anyhow::anyhow!("publisher {id}: {e}"))?;
    let config =
        PublisherConfig::from_input(provider, map, Some(Provider::GitLab.production_issuer()))
            .map_err(|e| anyhow::anyhow!("publisher {id}: {e}"))?;
    Ok(Publisher {
        id,
        provider,
        project: map
            .get("project")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        pending: map.get("pending").and_then(Value::as_bool).unwrap_or(false),
        config,
        created_at: 0,
        expires_at: None,
    })
}

/// PyPI's publishers and TestPyPI's: a file's or a flag's with `index = "testpypi"`, and
/// a running server's TestPyPI (`serve --testpypi`), are TestPyPI's.
async fn read_publishers(args: &PreflightArgs) -> anyhow::Result<(Vec<Publisher>, Vec<Publisher>)> {
    let mut maps: Vec<(i64, Map<String, Value>)> = Vec::new();
    if let Some(path) = &args.publishers {
        maps.extend(publishers_file(path)?);
    }
    if let Some(dir) = &args.data_dir {
        let info = crate::server_info::ServerInfo::read(dir)
            .with_context(|| format!("{}: no running server's server.json", dir.display()))?;
        let mut found = server_publishers(&info, info.http_url.clone().unwrap_or_default()).await?;
        if let Some(test) = &info.testpypi {
            for mut p in server_publishers(&info, test.http_url.clone()).await? {
                p["index"] = Value::String("testpypi".into());
                found.push(p);
            }
        }
        for p in found {
            if let Value::Object(m) = p {
                let id = m
                    .get("id")
                    .and_then(Value::as_i64)
                    .unwrap_or(maps.len() as i64 + 1);
                maps.push((id, m));
            }
        }
    }
    for flag in &args.publisher {
        let (provider, fields) = flag
            .split_once(':')
            .context("--publisher takes PROVIDER:FIELD=VALUE,…")?;
        let mut m = Map::new();
        m.insert("provider".into(), Value::String(provider.to_owned()));
        for pair in fields.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--publisher: '{pair}' is not FIELD=VALUE"))?;
            m.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
        }
        maps.push((maps.len() as i64 + 1, m));
    }
    let (mut pypi, mut testpypi) = (Vec::new(), Vec::new());
    for (id, mut m) in maps {
        let index = m.remove("index");
        match index.as_ref().and_then(Value::as_str) {
            None | Some("pypi") => pypi.push(publisher(id, &m)?),
            Some("testpypi" | "test") => testpypi.push(publisher(id, &m)?),
            Some(other) => anyhow::bail!("publisher {id}: index '{other}' (use pypi or testpypi)"),
        }
    }
    Ok((pypi, testpypi))
}

/// The `[[publishers]]` tables of a TOML file, numbered from 1.
fn publishers_file(path: &std::path::Path) -> anyhow::Result<Vec<(i64, Map<String, Value>)>> {
    let mut maps = Vec::new();
    let text = std::fs::read_to_string(path).map_err(|e| {
        BadInput::new(
            &path.display().to_string(),
            0,
            format!("cannot read it: {e}"),
        )
    })?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(1, |s| text[..s.start].lines().count().max(1));
        BadInput::new(
            &path.display().to_string(),
            line,
            format!("not TOML: {}", e.message()),
        )
    })?;
    let list = serde_json::to_value(value)?
        .get("publishers")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| {
            BadInput::new(
                &path.display().to_string(),
                1,
                "expected [[publishers]] tables",
            )
        })?;
    for (i, p) in list.into_iter().enumerate() {
        if let Value::Object(m) = p {
            maps.push((i as i64 + 1, m));
        }
    }
    Ok(maps)
}

async fn server_publishers(
    info: &crate::server_info::ServerInfo,
    base: String,
) -> anyhow::Result<Vec<Value>> {
    // A workshop seat reads its own publishers; the admin token reads them all.
    let (url, token) = match (&info.admin_token, info.seat, &info.request_token) {
        (None, Some(_), Some(seat_token)) => (
            format!("{base}/_mock/api/workshop/seat"),
            seat_token.clone(),
        ),
        _ => (
            format!("{base}/_mock/api/publishers"),
            info.admin_token.clone().unwrap_or_default(),
        ),
    };
    let answer: Value = crate::http_client::cli()?
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("{url}: the server does not answer"))?
        .json()
        .await?;
    Ok(answer
        .get("publishers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}
