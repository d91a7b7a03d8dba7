//! The conformance table (tests/conformance/cases.toml): every case registers its
//! publishers, gets a token from the fake issuer and exchanges it at the real
//! `/_/oidc/mint-token` endpoint; the outcome must be the one PyPI gives.

use crate::common::Server;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Deserialize)]
struct Table {
    /// Exchange cases; the other tables of the directory have their own runners
    /// (`conformance_2026.rs`, `provenance.rs`).
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    provider: String,
    publishers: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    identity: Map<String, Value>,
    #[serde(default)]
    claims: Map<String, Value>,
    #[serde(default)]
    remove: Vec<String>,
    fault: Option<String>,
    #[serde(default)]
    after_good_exchange: bool,
    expect: String,
    reason: Option<String>,
    expect_project: Option<String>,
    #[serde(default)]
    projects_exist: Vec<String>,
    /// Names prohibited after the publishers are registered.
    #[serde(default)]
    prohibit: Vec<String>,
    /// The identity of the first, good exchange (`after_good_exchange`), merged over the
    /// default; the case's own identity when absent.
    first: Option<Map<String, Value>>,
    /// `serve --preview` for this case (PyPI's open pull requests).
    #[serde(default)]
    preview: Vec<String>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("literal objects"),
    }
}

fn default_publisher(provider: &str) -> Map<String, Value> {
    object(match provider {
        "github" => {
            json!({"repository": "octo/demo", "workflow_filename": "release.yml", "environment": "pypi"})
        }
        "gitlab" => {
            json!({"project_path": "octo-group/demo", "workflow_filepath": ".gitlab-ci.yml", "environment": "pypi"})
        }
        "google" => json!({"email": "publisher@demo.iam.example"}),
        "activestate" => json!({"organization": "octo-org", "activestate_project_name": "demo"}),
        "buildkite" => json!({"organization_slug": "octo-org", "pipeline_slug": "release"}),
        "circleci" => {
            json!({"org_id": "org-1111", "project_id": "prj-2222", "pipeline_definition_id": "def-3333"})
        }
        "semaphore" => {
            json!({"organization": "octo", "organization_id": "so-1", "project_id": "sp-1", "repo_slug": "octo/demo"})
        }
        other => panic!("unknown provider {other}"),
    })
}

fn default_identity(provider: &str) -> Map<String, Value> {
    object(match provider {
        "github" => {
            json!({"repository": "octo/demo", "workflow": "release.yml", "environment": "pypi"})
        }
        "gitlab" => {
            json!({"project_path": "octo-group/demo", "ci_file": ".gitlab-ci.yml", "environment": "pypi"})
        }
        "google" => json!({"email": "publisher@demo.iam.example"}),
        "activestate" => json!({"organization": "octo-org", "project": "demo"}),
        "buildkite" => json!({"organization_slug": "octo-org", "pipeline_slug": "release"}),
        "circleci" => {
            json!({"org_id": "org-1111", "project_id": "prj-2222", "pipeline_definition_id": "def-3333"})
        }
        "semaphore" => {
            json!({"organization": "octo", "organization_id": "so-1", "project": "demo", "project_id": "sp-1", "repo_slug": "octo/demo"})
        }
        other => panic!("unknown provider {other}"),
    })
}

fn merged(mut base: Map<String, Value>, over: &Map<String, Value>) -> Map<String, Value> {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
    base
}

/// `{iss:P}` → provider P's issuer; `{host:P}` → it without the scheme; `__null__` → null.
fn substitute(value: &Value, issuers: &Map<String, Value>) -> Value {
    let Value::String(text) = value else {
        return value.clone();
    };
    if text == "__null__" {
        return Value::Null;
    }
    let mut out = text.clone();
    for (provider, iss) in issuers {
        let iss = iss.as_str().unwrap_or_default();
        let host = iss.split_once("://").map_or(iss, |(_, h)| h);
        out = out
            .replace(&format!("{{iss:{provider}}}"), iss)
            .replace(&format!("{{host:{provider}}}"), host);
    }
    Value::String(out)
}

/// Run one case; `Err` says how the outcome differed.
async fn run(server: &Server, case: &Case) -> Result<(), String> {
    let (status, body) = server.api(Method::POST, "/reset", None).await;
    if status != 200 {
        return Err(format!("reset failed: {body}"));
    }
    let publishers = case.publishers.clone().unwrap_or_else(|| vec![Map::new()]);
    for entry in &publishers {
        let mut p = merged(default_publisher(&case.provider), entry);
        p.insert("provider".into(), json!(case.provider));
        p.entry("project").or_insert(json!("conf-demo"));
        // `age_days` backdates the publisher once registered (pending expiry).
        let age = p.remove("age_days");
        let (status, body) = server
            .api(Method::POST, "/publishers", Some(Value::Object(p.clone())))
            .await;
        if status != 201 {
            return Err(format!("publisher {p:?} was refused: {body}"));
        }
        if let Some(age) = age {
            let path = format!("/publishers/{}", body["id"]);
            let (status, body) = server
                .api(Method::PATCH, &path, Some(json!({"age_days": age})))
                .await;
            if status != 200 {
                return Err(format!("backdating failed: {body}"));
            }
        }
    }
    for name in &case.prohibit {
        let (status, body) = server
            .api(
                Method::POST,
                "/prohibited-names",
                Some(json!({"name": name})),
            )
            .await;
        if status != 201 {
            return Err(format!("prohibiting {name} failed: {body}"));
        }
    }
    let audience = server.info["audience"].as_str().unwrap_or("pypi");
    let identity = merged(default_identity(&case.provider), &case.identity);
    if case.after_good_exchange {
        let first = match &case.first {
            Some(f) => merged(default_identity(&case.provider), f),
            None => identity.clone(),
        };
        let good = server
            .issue(json!({"provider": case.provider, "audience": audience, "identity": first}))
            .await;
        let (status, body) = server.mint(&good).await;
        if status != 200 {
            return Err(format!("the first, good exchange failed: {body}"));
        }
    }
    let mut issuers = server.info["issuers"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    // `{iss:base}`: the fake issuer's base URL (a Semaphore organisation's issuer is
    // `{iss:base}/semaphore/ORG`).
    issuers.insert("base".into(), server.info["issuer_url"].clone());
    let claims: Map<String, Value> = case
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v, &issuers)))
        .collect();
    let token = server
        .issue(json!({
            "provider": case.provider, "audience": audience, "identity": identity,
            "claims": claims, "remove": case.remove, "fault": case.fault,
        }))
        .await;
    let (status, body) = server.mint(&token).await;
    if case.expect == "accepted" {
        if status != 200 || body["success"] != json!(true) {
            return Err(format!("expected acceptance, got {status}: {body}"));
        }
        if let Some(project) = &case.expect_project {
            let (_, log) = server
                .api(Method::GET, "/exchanges?outcome=accepted&limit=1", None)
                .await;
            let chosen = &log["exchanges"][0]["project"];
            if chosen != project {
                return Err(format!(
                    "expected the publisher of '{project}' to mint, got {chosen}"
                ));
            }
        }
    } else {
        let code = &body["errors"][0]["code"];
        let description = body["errors"][0]["description"].as_str().unwrap_or("");
        if status != 422 || code != case.expect.as_str() {
            return Err(format!(
                "expected 422 {}, got {status}: {body}",
                case.expect
            ));
        }
        if body["message"] != "Token request failed" {
            return Err(format!("not PyPI's error shape: {body}"));
        }
        if let Some(reason) = &case.reason
            && !description.contains(reason.as_str())
        {
            return Err(format!("description lacks '{reason}': {description}"));
        }
    }
    if !case.projects_exist.is_empty() {
        let (_, projects) = server.api(Method::GET, "/projects", None).await;
        for name in &case.projects_exist {
            let found = projects["projects"]
                .as_array()
                .is_some_and(|all| all.iter().any(|p| p["normalized_name"] == name.as_str()));
            if !found {
                return Err(format!("project '{name}' does not exist: {projects}"));
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_of_the_conformance_table() {
    // Every table in tests/conformance/, in name order.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("reading tests/conformance")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut table = Table { case: Vec::new() };
    for file in &files {
        let text = std::fs::read_to_string(file).expect("reading a table");
        let part: Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
        table.case.extend(part.case);
    }
    assert!(
        table.case.len() >= 60,
        "the table must hold at least 60 cases"
    );
    for provider in ["github", "gitlab", "google", "activestate"] {
        let of = |accepted: bool| {
            table
                .case
                .iter()
                .filter(|c| c.provider == provider && (c.expect == "accepted") == accepted)
                .count()
        };
        assert!(
            of(true) > 0 && of(false) > 0,
            "{provider} needs accepted and refused cases"
        );
    }
    for provider in ["buildkite", "circleci", "semaphore"] {
        let n = table.case.iter().filter(|c| c.provider == provider).count();
        assert!(n >= 4, "preview {provider} needs cases ({n})");
    }
    // One server per set of previews the cases ask for.
    let mut previews: Vec<Vec<String>> = table.case.iter().map(|c| c.preview.clone()).collect();
    previews.sort();
    previews.dedup();
    let mut failures = Vec::new();
    for preview in previews {
        let flag = preview.join(",");
        let args: Vec<&str> = if preview.is_empty() {
            vec![]
        } else {
            vec!["--preview", &flag]
        };
        let server = Server::spawn_with(&args).await;
        for case in table.case.iter().filter(|c| c.preview == preview) {
            if let Err(e) = run(&server, case).await {
                failures.push(format!("{}: {e}", case.name));
            }
        }
    }
    println!("{} cases, {} failed", table.case.len(), failures.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
