//! A GitLab CI pipeline (`.gitlab-ci.yml` and its `include: local:` files), read into
//! what trusted publishing depends on: each job's `id_tokens:` (the variables and their
//! audiences), `environment`, and `script` lines; and the claims each variable's token
//! carries, built by the fake issuer's own `GitLabIdentity`. A job without `id_tokens:`
//! gets no token.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use serde::Serialize;
use serde_json::{Map, Value};

use super::workflow::{Environment, Step};
use super::yaml::{BadInput, is_expression, line, text, texts};
use crate::issuer::gitlab::GitLabIdentity;

/// Top-level keys that are not jobs.
const KEYWORDS: &[&str] = &[
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "types",
    "pages:deploy",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdToken {
    pub variable: String,
    pub audience: String,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitLabJob {
    pub name: String,
    /// The file that defines it (the main file or an included one).
    pub file: String,
    pub line: usize,
    pub id_tokens: Vec<IdToken>,
    pub environment: Option<(Environment, usize)>,
    /// `script:` as one step whose `run` is every line, so publishing commands are found
    /// as in a GitHub job.
    pub script: Step,
    pub id_tokens_line: Option<usize>,
    /// The line of the job's own `variables:` key, if it has one.
    pub variables_line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// The CI file's path in the repository (what `ci_config_ref_uri` names).
    pub ci_file: String,
    pub jobs: Vec<GitLabJob>,
}

/// Read the CI file and what it includes locally; `read` gives a path's contents.
pub fn parse(
    ci_file: &str,
    read: &dyn Fn(&str) -> Result<String, BadInput>,
) -> Result<Pipeline, BadInput> {
    let mut jobs = Vec::new();
    let mut files = vec![ci_file.to_owned()];
    let mut seen = Vec::new();
    while let Some(file) = files.pop() {
        if seen.contains(&file) {
            continue;
        }
        seen.push(file.clone());
        let root = super::yaml::parse(&file, &read(&file)?)?;
        let map = root
            .as_mapping()
            .ok_or_else(|| BadInput::new(&file, 1, "expected a mapping at the top level"))?;
        if let Some(include) = map.get_node("include") {
            files.extend(local_includes(include));
        }
        for (name, node) in map.iter() {
            let name_text = name.as_str();
            if KEYWORDS.contains(&name_text) || name_text.starts_with('.') {
                continue;
            }
            if let Some(job) = node.as_mapping() {
                jobs.push(parse_job(&file, name, job));
            }
        }
    }
    Ok(Pipeline {
        ci_file: ci_file.to_owned(),
        jobs,
    })
}

/// One job: its id_tokens, environment, script and the lines of its keys.
fn parse_job(file: &str, name: &MarkedScalarNode, job: &MarkedMappingNode) -> GitLabJob {
    let name_text = name.as_str();
    let id_tokens_node = job.get_mapping("id_tokens");
    let id_tokens = id_tokens_node
        .map(|t| {
            t.iter()
                .map(|(var, spec)| {
                    let aud = spec
                        .as_mapping()
                        .and_then(|m| m.get_node("aud"))
                        .map(|a| texts(a).join(","))
                        .unwrap_or_default();
                    IdToken {
                        variable: var.as_str().to_owned(),
                        audience: aud,
                        line: line(var.span()),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let environment = job.get_node("environment").map(|e| {
        let name = match e {
            Node::Mapping(m) => m.get_scalar("name").map(|s| s.as_str().to_owned()),
            _ => text(e).map(str::to_owned),
        }
        .unwrap_or_default();
        // GitLab's variables ($CI_COMMIT_REF_NAME) are only known in the pipeline.
        let env = if name.contains('$') || is_expression(&name) {
            Environment::Expression(name)
        } else {
            Environment::Name(name)
        };
        (env, line(e.span()))
    });
    let script_node = job.get_node("script");
    let run = script_node.map(|s| texts(s).join("\n"));
    let run_line = script_node.map_or(line(name.span()), |s| match s {
        Node::Sequence(seq) => seq.first().map_or(line(s.span()), |n| line(n.span())),
        _ => line(s.span()),
    });
    let env = job
        .get_mapping("variables")
        .map(|v| v.keys().map(|k| k.as_str().to_owned()).collect())
        .unwrap_or_default();
    GitLabJob {
        name: name_text.to_owned(),
        file: file.to_owned(),
        line: line(name.span()),
        id_tokens,
        environment,
        id_tokens_line: id_tokens_node.map(|n| line(n.span())),
        variables_line: job
            .iter()
            .find(|(k, _)| k.as_str() == "variables")
            .map(|(k, _)| line(k.span())),
        script: Step {
            line: run_line,
            name: None,
            uses: None,
            with: Vec::new(),
            run,
            run_line,
            env,
        },
    }
}

/// `include: 'a.yml'`, `include: [{local: a.yml}, …]`, `include: {local: a.yml}`.
fn local_includes(include: &Node) -> Vec<String> {
    let one = |n: &Node| -> Option<String> {
        match n {
            Node::Scalar(s) if !s.as_str().contains("://") => Some(s.as_str().to_owned()),
            Node::Mapping(m) => m.get_scalar("local").map(|s| s.as_str().to_owned()),
            _ => None,
        }
    };
    let list: Vec<String> = match include {
        Node::Sequence(seq) => seq.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    };
    list.into_iter()
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect()
}

/// What started the pipeline, on which ref.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub pipeline_source: String,
    pub ref_path: String,
}

/// The identity a job's tokens carry.
pub fn identity(
    project_path: &str,
    pipeline: &Pipeline,
    job: &GitLabJob,
    source: &Source,
    sha: Option<String>,
) -> (GitLabIdentity, Vec<String>) {
    let mut unknown = Vec::new();
    let environment = match &job.environment {
        Some((Environment::Name(n), _)) => Some(n.clone()),
        Some((Environment::Expression(e), _)) => {
            unknown.push(format!("environment is {e}, which only GitLab can expand"));
            None
        }
        None => None,
    };
    let identity = GitLabIdentity {
        project_path: project_path.to_owned(),
        ci_file: Some(pipeline.ci_file.clone()),
        ref_path: Some(source.ref_path.clone()),
        sha,
        environment,
        user_login: None,
        pipeline_source: Some(source.pipeline_source.clone()),
        ..Default::default()
    };
    (identity, unknown)
}

/// A token's claims for one `id_tokens:` variable.
pub fn claims(
    identity: &GitLabIdentity,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Map<String, Value> {
    identity.claims(&super::context(issuer, audience, now))
}
