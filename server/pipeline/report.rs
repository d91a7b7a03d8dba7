//! A preflight report as people read it (text), as scripts read it (JSON: `jobs` and
//! `findings`), and as code scanning reads it (SARIF 2.1.0: one result per finding and
//! per job that would not publish, located at its workflow file and line).

use serde_json::{Value, json};

use super::preflight::{Report, Severity, Verdict};

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    if report.jobs.is_empty() {
        out.push_str("no publishing job found (no pypa/gh-action-pypi-publish step, no uv/twine/pdm/hatch/poetry/maturin/flit publish command)\n");
    }
    for j in &report.jobs {
        let verdict = match j.verdict {
            Verdict::Accepted => "accepted".to_owned(),
            Verdict::Refused => match j.code {
                Some(code) => format!("refused ({code})"),
                None => "refused".to_owned(),
            },
            Verdict::NoToken => "no token".to_owned(),
            Verdict::Unknown => "unknown".to_owned(),
        };
        out.push_str(&format!(
            "{} job {} on {} ({}) to {}: {verdict}\n",
            j.workflow, j.job, j.event, j.git_ref, j.index
        ));
        for r in &j.reasons {
            out.push_str(&format!("    {r}\n"));
        }
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        out.push_str(&format!(
            "{}:{}: {severity} [{}] {}\n",
            f.file, f.line, f.rule, f.message
        ));
    }
    out
}

pub fn json(report: &Report) -> Value {
    serde_json::to_value(report).unwrap_or_else(|e| json!({"error": e.to_string()}))
}

/// The rules a run can report, with their descriptions (SARIF's `rules`).
const RULES: &[(&str, &str)] = &[
    (
        "job-refused",
        "A publishing job that PyPI would refuse, or that would get no token",
    ),
    ("no-id-token", "A publishing job without `id-token: write`"),
    (
        "pull-request-target",
        "pull_request_target can run a publishing job",
    ),
    ("fork-pull-request", "pull_request can run a publishing job"),
    (
        "reusable-workflow",
        "A publishing job inside a reusable workflow: PyPI matches the called file",
    ),
    (
        "environment-on-caller",
        "`environment:` on a job that calls a reusable workflow",
    ),
    (
        "environment-missing",
        "The publisher names an environment the job does not run in",
    ),
    (
        "publisher-without-environment",
        "The job runs in an environment the publisher does not require",
    ),
    (
        "credential-disables-trusted-publishing",
        "A password or token turns trusted publishing off",
    ),
    (
        "no-trusted-publishing",
        "A command that cannot publish by trusted publishing",
    ),
    ("two-indexes-one-job", "TestPyPI and PyPI in one job"),
    (
        "publisher-names-another-file",
        "A tag-triggered workflow whose publisher names another file",
    ),
    ("cache-in-release", "A release job that restores a cache"),
    (
        "environment-expression",
        "An environment only GitHub can evaluate",
    ),
];

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

fn result(rule: &str, level: &str, message: &str, file: &str, line: usize) -> Value {
    json!({
        "ruleId": rule,
        "level": level,
        "message": {"text": message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": file},
            "region": {"startLine": line.max(1)},
        }}],
    })
}

pub fn sarif(report: &Report, job_lines: &dyn Fn(&str, &str) -> usize) -> Value {
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f.rule, level(f.severity), &f.message, &f.file, f.line))
        .collect();
    for j in report
        .jobs
        .iter()
        .filter(|j| j.verdict != Verdict::Accepted)
    {
        let message = format!(
            "job {} on {} ({}) to {}: {}",
            j.job,
            j.event,
            j.git_ref,
            j.index,
            j.reasons.join(" ")
        );
        let level = if j.verdict == Verdict::Unknown {
            "note"
        } else {
            "error"
        };
        results.push(result(
            "job-refused",
            level,
            &message,
            &j.workflow,
            job_lines(&j.workflow, &j.job),
        ));
    }
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, text)| json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "mock-pypi preflight",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/mock-pypi/mock-pypi#test-your-real-pipeline",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
