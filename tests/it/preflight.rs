//! `mock-pypi preflight` on the corpus of workflows in `tests/preflight/cases.toml`,
//! through the binary: verdicts, findings and exit codes as each case expects. Then the
//! property that makes a verdict worth having: the token each judged job would get,
//! minted by the fake issuer and exchanged at a real server holding the same
//! publishers, is accepted where preflight says accepted and refused with the same code
//! where it says refused. Bad input exits 2 with the file and line.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::common::{ROOT, Server, binary, git_repo, tempdir};

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("tests/preflight/cases.toml")).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    serde_json::to_value(value).unwrap()["cases"]
        .as_array()
        .unwrap()
        .clone()
}

/// A git repository whose origin is octo-org/demo, holding `files`.
fn repository(dir: &Path, files: &Map<String, Value>) {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str().unwrap()))
        .collect();
    git_repo(dir, "git@git.example:octo-org/demo.git", &files);
}

/// The publishers as a `[[publishers]]` TOML file.
fn publishers_file(dir: &Path, publishers: &[Value]) -> std::path::PathBuf {
    let table = json!({"publishers": publishers});
    let text = toml::to_string(&table).unwrap();
    let path = dir.join("publishers.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn preflight(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("preflight")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run one case; the report it printed.
fn run_case(case: &Value) -> Value {
    let name = case["name"].as_str().unwrap();
    let dir = tempdir();
    repository(dir.path(), case["files"].as_object().unwrap());
    let publishers = publishers_file(dir.path(), case["publishers"].as_array().unwrap());
    let repo = dir.path().to_str().unwrap().to_owned();
    let file = publishers.to_str().unwrap().to_owned();
    let mut args = vec!["--repo", &repo, "--publishers", &file, "--format", "json"];
    let extra: Vec<String> = case["args"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    args.extend(extra.iter().map(String::as_str));
    let (code, out, err) = preflight(&args);
    let report: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}\n{out}\n{err}"));
    assert_eq!(
        i64::from(code),
        case["exit"].as_i64().unwrap(),
        "{name}: exit\n{out}"
    );
    let found: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    let wanted: BTreeSet<&str> = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(found, wanted, "{name}: findings\n{out}");
    let jobs = report["jobs"].as_array().unwrap();
    let expected = case["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), expected.len(), "{name}: jobs\n{out}");
    for (job, want) in jobs.iter().zip(expected) {
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&job[key], value, "{name}: {key}\n{out}");
        }
    }
    // Every finding names where it is.
    for f in report["findings"].as_array().unwrap() {
        let file = f["file"].as_str().unwrap();
        assert!(
            f["line"].as_u64().unwrap() > 0 && (file.ends_with(".yml") || file.ends_with(".yaml")),
            "{name}: {f}"
        );
    }
    report
}

#[test]
fn the_corpus_gets_its_verdicts_and_findings() {
    let cases = cases();
    assert!(cases.len() >= 20, "the corpus has {} cases", cases.len());
    for case in &cases {
        run_case(case);
    }
}

/// The claims a job's token carries, less what the issuer sets for each token.
fn identity_claims(claims: &Value) -> Map<String, Value> {
    let mut c = claims.as_object().unwrap().clone();
    for k in ["iss", "aud", "iat", "nbf", "exp", "jti"] {
        c.remove(k);
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_agrees_with_every_verdict() {
    let pypi = Server::spawn().await;
    let testpypi = Server::spawn_with(&["--audience", "testpypi"]).await;
    let mut judged = 0;
    for case in cases() {
        let name = case["name"].as_str().unwrap().to_owned();
        let report = tokio::task::spawn_blocking({
            let case = case.clone();
            move || run_case(&case)
        })
        .await
        .unwrap();
        for job in report["jobs"].as_array().unwrap() {
            let verdict = job["verdict"].as_str().unwrap();
            // Only the jobs that exchange a token: the others never reach the index.
            if verdict != "accepted" && job["code"].is_null() {
                continue;
            }
            let server = if job["index"] == "testpypi" {
                &testpypi
            } else {
                &pypi
            };
            server.api(Method::POST, "/reset", None).await;
            // Each index has its own publishers (`index = "testpypi"` marks TestPyPI's).
            let on_testpypi = job["index"] == "testpypi";
            for p in case["publishers"].as_array().unwrap() {
                let mut p = p.as_object().unwrap().clone();
                let theirs = p.remove("index").is_some_and(|i| i == "testpypi");
                if theirs != on_testpypi {
                    continue;
                }
                let (status, body) = server
                    .api(Method::POST, "/publishers", Some(Value::Object(p)))
                    .await;
                assert_eq!(status, 201, "{name}: {body}");
            }
            let token = server
                .issue(json!({
                    "provider": "github",
                    "audience": job["claims"]["aud"],
                    "identity": {"repository": "octo-org/demo"},
                    "claims": identity_claims(&job["claims"]),
                }))
                .await;
            let (status, body) = server.mint(&token).await;
            match verdict {
                "accepted" => {
                    assert_eq!(status, 200, "{name}: preflight accepted, the index: {body}")
                }
                _ => {
                    assert_eq!(status, 422, "{name}: preflight refused, the index: {body}");
                    assert_eq!(body["errors"][0]["code"], job["code"], "{name}: {body}");
                }
            }
            judged += 1;
        }
    }
    assert!(judged >= 15, "only {judged} verdicts reached the index");
}

#[test]
fn bad_input_exits_2_naming_the_file_and_line() {
    let dir = tempdir();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    let repo = dir.path().to_str().unwrap();
    let cases = [
        (
            "broken.yml",
            "on: [push\njobs:\n  a: {}\n",
            ".github/workflows/broken.yml:2: not valid YAML",
        ),
        (
            "cycle.yml",
            "on: push\njobs:\n  a:\n    needs: b\n  b:\n    needs: a\n",
            ".github/workflows/cycle.yml:3: the jobs' needs form a cycle",
        ),
        (
            "event.yml",
            "on: pushh\njobs: {}\n",
            ".github/workflows/event.yml:1: unknown event 'pushh'",
        ),
    ];
    // A refusal: exit 2, the message on stderr, nothing half-printed on stdout.
    let refused = |workflow: &str, extra: &[&str], expected: &str| {
        let mut args = vec![
            "--repo",
            repo,
            "--repository",
            "octo-org/demo",
            "--workflow",
            workflow,
        ];
        args.extend(extra);
        let (code, out, err) = preflight(&args);
        assert_eq!(code, 2, "{workflow}: {out}{err}");
        assert!(err.contains(expected), "{workflow}: {err}");
        assert!(
            out.is_empty(),
            "{workflow}: nothing is printed but the error: {out}"
        );
    };
    for (file, text, expected) in cases {
        let path = wf.join(file);
        std::fs::write(&path, text).unwrap();
        refused(path.to_str().unwrap(), &[], expected);
    }
    refused("missing.yml", &[], "missing.yml: cannot read it");
    let good = wf.join("good.yml");
    std::fs::write(&good, "on: push\njobs: {}\n").unwrap();
    refused(
        good.to_str().unwrap(),
        &["--event", "pussh"],
        "unknown event 'pussh'",
    );
}

#[test]
fn sarif_is_what_code_scanning_reads() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "no id-token: write anywhere")
        .unwrap();
    let dir = tempdir();
    repository(dir.path(), case["files"].as_object().unwrap());
    let publishers = publishers_file(dir.path(), case["publishers"].as_array().unwrap());
    let (code, out, _) = preflight(&[
        "--repo",
        dir.path().to_str().unwrap(),
        "--publishers",
        publishers.to_str().unwrap(),
        "--format",
        "sarif",
    ]);
    assert_eq!(code, 1);
    let sarif: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(results.len() >= 2, "{out}");
    for r in results {
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()), "{r}");
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        let location = &r["locations"][0]["physicalLocation"];
        assert_eq!(
            location["artifactLocation"]["uri"],
            ".github/workflows/release.yml"
        );
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}
