//! `mock-pypi gitlab-ci-local [ARGS…]`: run the repository's real GitLab pipeline under
//! firecow's gitlab-ci-local (shell jobs on the host) against the running server: each
//! job with `id_tokens:` gets each declared variable holding a token from the fake
//! issuer with that job's claims and that variable's `aud`; jobs without get none.
//! The tokens go into the jobs' `variables:` in a hard-linked copy of the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;

use super::target::{IssuerTarget, Target, mint_token_with_audience};
use crate::pipeline::gitlab::{self, Source};
use crate::pipeline::inject::{Insertion, add};
use crate::pipeline::yaml::BadInput;
use crate::provider::Provider;

#[derive(Args, Debug)]
pub struct GitLabCiLocalArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    /// The gitlab-ci-local binary [default: `gitlab-ci-local` on PATH (npm: gitlab-ci-local@4.64.1)].
    #[arg(
        long = "gitlab-ci-local",
        env = "MOCK_PYPI_GITLAB_CI_LOCAL",
        default_value = "gitlab-ci-local"
    )]
    pub binary: PathBuf,
    /// The repository [default: the working directory].
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// What started the pipeline (the tokens' `pipeline_source`).
    #[arg(long, default_value = "push")]
    pub pipeline_source: String,
    /// The ref [default: the checked-out tag, else branch].
    #[arg(long = "ref")]
    pub ref_path: Option<String>,
    /// gitlab-ci-local's own arguments (a job name, `--variable`, …).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn gitlab_ci_local(args: GitLabCiLocalArgs) -> anyhow::Result<()> {
    let r = args.issuer.resolve(&args.target)?;
    let repo = args.repo.canonicalize().context("the repository")?;
    let project = super::repo::git(&repo, &["remote", "get-url", "origin"])
        .as_deref()
        .and_then(crate::pipeline::remote::project_path)
        .context("no git remote 'origin' to read the project path from")?;
    let read = |file: &str| {
        std::fs::read_to_string(repo.join(file))
            .map_err(|e| BadInput::new(file, 0, format!("cannot read it: {e}")))
    };
    let pipeline = gitlab::parse(".gitlab-ci.yml", &read)?;
    let ref_path = args.ref_path.clone().unwrap_or_else(|| {
        match super::repo::git(&repo, &["describe", "--exact-match", "--tags", "HEAD"]) {
            Some(tag) => format!("refs/tags/{tag}"),
            None => format!(
                "refs/heads/{}",
                super::repo::git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"])
                    .unwrap_or_else(|| "main".into())
            ),
        }
    });
    let source = Source {
        pipeline_source: args.pipeline_source.clone(),
        ref_path,
    };
    let sha = super::repo::git(&repo, &["rev-parse", "HEAD"]);
    // Each job's variables: one token per id_tokens entry, for its audience.
    let mut per_job: Vec<(usize, Vec<(String, String)>)> = Vec::new();
    eprintln!(
        "mock-pypi gitlab-ci-local: {} on {}",
        source.pipeline_source, source.ref_path
    );
    for (i, job) in pipeline.jobs.iter().enumerate() {
        if job.id_tokens.is_empty() {
            eprintln!("  {}: no id_tokens, no token", job.name);
            continue;
        }
        let (identity, _) = gitlab::identity(&project, &pipeline, job, &source, sha.clone());
        let identity = serde_json::to_value(&identity)?;
        let mut vars = Vec::new();
        for t in &job.id_tokens {
            let token = mint_token_with_audience(
                &r,
                Provider::GitLab,
                identity.clone(),
                args.issuer.bad_token.as_ref(),
                &t.audience,
            )
            .await?;
            eprintln!(
                "  {}: {} holds a token for aud '{}'",
                job.name, t.variable, t.audience
            );
            vars.push((t.variable.clone(), token));
        }
        per_job.push((i, vars));
    }
    let copy = std::env::temp_dir().join(format!("mock-pypi-gcl-{}", crate::util::random_hex(8)));
    std::fs::create_dir_all(&copy)?;
    let since = crate::util::now();
    let result = run(&args, &r, &repo, &copy, &pipeline, &per_job, &read);
    let _ = std::fs::remove_dir_all(&copy);
    let code = result?;
    super::act::explain_exchanges(&args.target, since).await;
    std::process::exit(code);
}

fn run(
    args: &GitLabCiLocalArgs,
    r: &super::target::Resolved,
    repo: &Path,
    copy: &Path,
    pipeline: &gitlab::Pipeline,
    per_job: &[(usize, Vec<(String, String)>)],
    read: &dyn Fn(&str) -> Result<String, BadInput>,
) -> anyhow::Result<i32> {
    super::repo::copy_of(repo, copy)?;
    let mut files: Vec<&str> = per_job
        .iter()
        .map(|(i, _)| pipeline.jobs[*i].file.as_str())
        .collect();
    files.sort();
    files.dedup();
    for file in files {
        let insertions: Vec<Insertion> = per_job
            .iter()
            .map(|(i, vars)| (&pipeline.jobs[*i], vars))
            .filter(|(job, _)| job.file == file)
            .map(|(job, vars)| Insertion {
                job: &job.name,
                job_line: job.line,
                key: "variables",
                key_line: job.variables_line,
                vars,
            })
            .collect();
        let text = add(file, &read(file)?, insertions)?;
        let path = copy.join(file);
        // Replace the link, never write through it.
        std::fs::remove_file(&path)?;
        std::fs::write(&path, text)?;
    }
    let mut cmd = Command::new(&args.binary);
    cmd.current_dir(copy).args(&args.args);
    // What GitLab predefines and gitlab-ci-local leaves out (uv looks for GITLAB_CI).
    for (name, value) in [
        ("GITLAB_CI", "true"),
        ("CI_CONFIG_PATH", pipeline.ci_file.as_str()),
    ] {
        cmd.args(["--variable", &format!("{name}={value}")]);
    }
    if let Some(ca) = &r.ca_file {
        for name in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"] {
            cmd.args(["--variable", &format!("{name}={}", ca.display())]);
        }
    }
    let status = cmd.status().with_context(|| {
        format!(
            "running {} (npm install gitlab-ci-local@4.64.1; it needs rsync)",
            args.binary.display()
        )
    })?;
    Ok(status.code().unwrap_or(1))
}
