//! PEP 740 end to end: `mock-pypi attest` signs through the fake Sigstore, uv (pinned)
//! uploads the attestations, the index verifies them as PyPI does and serves the
//! provenance; the pinned `sigstore` and `pypi-attestations` libraries verify the same
//! files against the fake trusted root, independently of mock-pypi's own verifier.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::common::uploads::{Upload, assert_store_clean, basic, files_of};
use crate::common::{Server, client, dists, run, uv_publish};

/// PyPI's publish/v1 predicate type, as the client library defines it.
pub(crate) fn publish_predicate() -> &'static str {
    static TYPE: OnceLock<String> = OnceLock::new();
    TYPE.get_or_init(|| {
        let out = Command::new(crate::common::venv().join("bin/python"))
            .env_clear()
            .args([
                "-c",
                "from pypi_attestations import AttestationType as T; print(T.PYPI_PUBLISH_V1.value)",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// `mock-pypi attest` in the job's environment `env`, nothing else inherited.
fn attest(
    server: &Server,
    env: &[(String, String)],
    extra: &[&str],
    files: &[&Path],
) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-pypi"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["attest", "--data-dir"])
        .arg(server.data_dir())
        .args(["--predicate-type", publish_predicate()])
        .args(extra)
        .args(files);
    run(&mut cmd)
}

fn attestation_of(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap().to_str().unwrap();
    file.with_file_name(format!("{name}.publish.attestation"))
}

fn github_job(server: &Server, repository: &str, workflow: &str) -> Vec<(String, String)> {
    server.env_vars(&[
        "env",
        "github",
        "--repository",
        repository,
        "--workflow",
        workflow,
    ])
}

/// Verify with sigstore + pypi-attestations (what PyPI runs), on our trusted root.
/// `Ok` with the predicate type, or the library's error.
fn independent_verify(
    server: &Server,
    home: &Path,
    dist: &Path,
    attestation: &str,
    repository: &str,
) -> Result<String, String> {
    let script = home.join("verify.py");
    std::fs::write(
        &script,
        r#"import sys
from pathlib import Path
from unittest import mock
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from pypi_attestations import Attestation, Distribution, GitHubPublisher
root, dist, attestation, repository = sys.argv[1:5]
verifier = Verifier(trusted_root=TrustedRoot.from_file(root))
att = Attestation.model_validate_json(attestation)
publisher = GitHubPublisher(repository=repository, workflow="release.yml")
with mock.patch("pypi_attestations._impl.Verifier.production", return_value=verifier):
    try:
        predicate_type, _ = att.verify(publisher, Distribution.from_file(Path(dist)))
    except Exception as e:
        print(f"REFUSED {type(e).__name__}: {e}")
        sys.exit(1)
print(predicate_type)
"#,
    )
    .unwrap();
    let root = server.data_dir().join("sigstore/trusted_root.json");
    let (ok, out) = run(Command::new(crate::common::venv().join("bin/python"))
        .env_clear()
        .arg(&script)
        .arg(&root)
        .arg(dist)
        .arg(attestation)
        .arg(repository));
    if ok {
        Ok(out.trim().to_owned())
    } else {
        Err(out)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uv_publishes_attested_files_and_the_index_serves_their_provenance() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("att-demo", "octo-org/att-demo", "release.yml", "")
        .await;
    let d = dists::build(&home.path().join("dist"), "att-demo", "1.0");
    let env = github_job(&server, "octo-org/att-demo", "release.yml");
    let (ok, out) = attest(&server, &env, &[], &[&d.wheel, &d.sdist]);
    assert!(ok, "{out}");
    // The files verify with the libraries PyPI uses, against our trusted root.
    for dist in [&d.wheel, &d.sdist] {
        let text = std::fs::read_to_string(attestation_of(dist)).unwrap();
        assert_eq!(
            independent_verify(&server, home.path(), dist, &text, "octo-org/att-demo"),
            Ok(publish_predicate().to_owned())
        );
        // And not for another publisher.
        assert!(independent_verify(&server, home.path(), dist, &text, "octo-org/other").is_err());
    }
    // The publish action refuses to overwrite; so does attest.
    let (ok, out) = attest(&server, &env, &[], &[&d.wheel]);
    assert!(!ok && out.contains("exists already"), "{out}");

    let (wheel_att, sdist_att) = (attestation_of(&d.wheel), attestation_of(&d.sdist));
    let (ok, out) = uv_publish(
        &server,
        home.path(),
        &env,
        &[&d.wheel, &d.sdist, &wheel_att, &sdist_att],
    );
    assert!(ok, "uv publish failed:\n{out}\n{}", server.log());

    // PEP 691 JSON names each file's provenance; the HTML page carries data-provenance.
    let page = server
        .get_json(&format!("{}/simple/att-demo/", server.http()))
        .await;
    assert_eq!(page["meta"]["api-version"], "1.4");
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let html = server
        .get_text(&format!("{}/simple/att-demo/", server.http()))
        .await;
    for f in files {
        let url = f["provenance"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/integrity/att-demo/1.0/", server.https())),
            "{url}"
        );
        assert!(
            html.contains(&format!("data-provenance=\"{url}\"")),
            "{html}"
        );
        // The Integrity API: PyPI's document, publisher first.
        let response = server.client().get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.pypi.integrity.v1+json"
        );
        let provenance: Value = response.json().await.unwrap();
        assert_eq!(provenance["version"], 1);
        let bundle = &provenance["attestation_bundles"][0];
        assert_eq!(
            bundle["publisher"],
            json!({"kind": "GitHub", "repository": "octo-org/att-demo", "workflow": "release.yml", "environment": null})
        );
        // The served attestation verifies independently too.
        let filename = f["filename"].as_str().unwrap();
        let dist = home.path().join("dist").join(filename);
        let served = bundle["attestations"][0].to_string();
        assert!(
            independent_verify(&server, home.path(), &dist, &served, "octo-org/att-demo").is_ok()
        );
    }
    // Negotiation and missing provenance, in PyPI's words.
    let url = files[0]["provenance"].as_str().unwrap();
    let refused = server
        .client()
        .get(url)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 406);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"message": "Request not acceptable"})
    );
    let json_too = server
        .client()
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_too.headers()["content-type"], "application/json");
    let missing = server
        .client()
        .get(format!(
            "{}/integrity/att-demo/1.0/nothing.tar.gz/provenance",
            server.https()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"message": "No provenance available for nothing.tar.gz"})
    );
    // The upload's verification is kept step by step with the file.
    let stored = &files_of(&server, "att-demo").await[0];
    let report = &stored["attestations"];
    let steps: Vec<&str> = report[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "time",
            "chain",
            "sct",
            "usage",
            "identity",
            "inclusion",
            "validity",
            "signature",
            "log body",
            "statement"
        ]
    );
    // The audit API shows the same report with the upload of the exchange's token,
    // and the dashboard shows it on the project page.
    let (_, log) = server
        .api(
            reqwest::Method::GET,
            "/exchanges?outcome=accepted&limit=1",
            None,
        )
        .await;
    let id = log["exchanges"][0]["id"].as_i64().unwrap();
    let (_, exchange) = server
        .api(reqwest::Method::GET, &format!("/exchanges/{id}"), None)
        .await;
    let uploads = exchange["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 2, "{exchange}");
    assert_eq!(uploads[0]["attestations"][0]["kind"], "publish/v1");
    let page = server
        .get_text(&format!("{}/_mock/dashboard/projects", server.http()))
        .await;
    assert!(
        page.contains(
            "PEP 740 attestation (publish/v1): <span class=\"ok\">verified</span> in 10 steps"
        ),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_attest_fault_is_refused_by_the_index_and_by_the_libraries() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("att-fault", "octo-org/att-fault", "release.yml", "")
        .await;
    let d = dists::build(&home.path().join("dist"), "att-fault", "1.0");
    let env = github_job(&server, "octo-org/att-fault", "release.yml");
    let cases = [
        ("wrong-digest", "subject does not match distribution digest"),
        ("wrong-filename", "subject does not match distribution name"),
        (
            "two-subjects",
            "too many subjects in statement (must be exactly one)",
        ),
        (
            "unknown-predicate",
            "unknown attestation type: https://mock-pypi.invalid/",
        ),
        (
            "other-identity",
            "Certificate's Build Config URI (https://github.com/octo-org/att-fault/.github/workflows/not-the-publisher.yml@",
        ),
        (
            "expired-certificate",
            "invalid signing cert: expired at time of Rekor entry",
        ),
        (
            "no-log-entry",
            "Malformed attestations: verification_material.transparency_entries must hold at least one entry",
        ),
        ("tampered-signature", "DSSE: invalid signature"),
        ("untrusted-ca", "failed to build chain"),
    ];
    for (fault, reason) in cases {
        let (ok, out) = attest(
            &server,
            &env,
            &["--bad-attestation", fault, "--overwrite"],
            &[&d.wheel],
        );
        assert!(ok, "{fault}: {out}");
        let att = attestation_of(&d.wheel);
        let (ok, out) = uv_publish(&server, home.path(), &env, &[&d.wheel, &att]);
        assert!(!ok, "{fault}: uv should have failed:\n{out}");
        assert!(
            out.contains("Invalid attestations supplied during upload: ") && out.contains(reason),
            "{fault}: uv does not show the reason '{reason}':\n{out}"
        );
        assert_store_clean(&server, 0).await;
        if fault != "no-log-entry" {
            let text = std::fs::read_to_string(&att).unwrap();
            let verdict =
                independent_verify(&server, home.path(), &d.wheel, &text, "octo-org/att-fault");
            assert!(verdict.is_err(), "{fault}: the libraries accepted it");
        }
    }
    // The good one, after all that.
    let (ok, out) = attest(&server, &env, &["--overwrite"], &[&d.wheel]);
    assert!(ok, "{out}");
    let (ok, out) = uv_publish(
        &server,
        home.path(),
        &env,
        &[&d.wheel, &attestation_of(&d.wheel)],
    );
    assert!(ok, "{out}");
}

/// The verification rules through the real endpoint, one case per rule, each with an
/// input that breaks it.
#[tokio::test(flavor = "multi_thread")]
async fn the_verification_rules_one_case_each() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("att-rules", "octo-org/att-rules", "release.yml", "")
        .await;
    let d = dists::build(&home.path().join("dist"), "att-rules", "1.0");
    let env = github_job(&server, "octo-org/att-rules", "release.yml");
    let (ok, out) = attest(&server, &env, &[], &[&d.wheel]);
    assert!(ok, "{out}");
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(attestation_of(&d.wheel)).unwrap()).unwrap();
    let oidc = {
        let token = server.github_token(&["--repository", "octo-org/att-rules"]);
        let (status, body) = server.mint(&token).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut a = good.clone();
        f(&mut a);
        json!([a]).to_string()
    };
    let entry = "/verification_material/transparency_entries/0";
    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "[{".into(), "Malformed attestations: "),
        ("not a list", good.to_string(), "Malformed attestations: "),
        (
            "empty list",
            "[]".into(),
            "Malformed attestations: an empty attestation set is not permitted",
        ),
        (
            "version 2",
            edit(&|a| a["version"] = json!(2)),
            "Malformed attestations: version must be 1",
        ),
        (
            "bad base64",
            edit(&|a| a["envelope"]["signature"] = json!("%%%")),
            "Malformed attestations: envelope.signature is not base64",
        ),
        (
            "three attestations",
            json!([good, good, good]).to_string(),
            "A maximum of 2 attestations per file are supported",
        ),
        (
            "two of one type",
            json!([good, good]).to_string(),
            "Multiple attestations for the same file with the same predicate type (",
        ),
        (
            "not a certificate",
            edit(&|a| a["verification_material"]["certificate"] = json!("AAAA")),
            "Unknown error while trying to verify included attestations: invalid X.509 certificate",
        ),
        (
            "integer log index",
            edit(&|a| a.pointer_mut(entry).unwrap()["logIndex"] = json!(1)),
            "Unknown error while trying to verify included attestations: invalid transparency log entry",
        ),
        (
            "no inclusion promise",
            edit(&|a| {
                a.pointer_mut(entry)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
            }),
            "bundle must contain an inclusion promise or signed timestamp(s)",
        ),
        (
            "another log's time",
            edit(&|a| a.pointer_mut(entry).unwrap()["integratedTime"] = json!("1000")),
            "Verification failed: invalid log entry: the signed entry timestamp",
        ),
        (
            "a wrong inclusion proof",
            edit(&|a| a.pointer_mut(entry).unwrap()["inclusionProof"]["treeSize"] = json!("999")),
            "Verification failed: invalid log entry:",
        ),
        (
            "a wrong body",
            edit(&|a| {
                let e = a.pointer_mut(entry).unwrap();
                e["canonicalizedBody"] = json!(base64_of(b"{}"));
            }),
            "Verification failed: invalid log entry:",
        ),
    ];
    let upload = |field: &str, token: &str| {
        Upload::of(&d.wheel, "att-rules", "1.0")
            .set("attestations", field)
            .send_raw(&server, Some(&basic(token)))
    };
    for (name, field, reason) in &cases {
        let (status, phrase, body) = upload(field, &oidc);
        assert_eq!(status, 400, "{name}: {phrase} {body}");
        assert!(
            phrase.starts_with("Invalid attestations supplied during upload: "),
            "{name}: {phrase}"
        );
        assert!(
            phrase.contains(reason),
            "{name}: expected '{reason}' in '{phrase}'"
        );
        assert_store_clean(&server, 0).await;
    }
    // Rule 1: only with trusted publishing.
    let (_, api) = server
        .api(
            reqwest::Method::POST,
            "/tokens",
            Some(json!({"project": "att-rules"})),
        )
        .await;
    let (status, phrase, _) = upload(&json!([good]).to_string(), api["token"].as_str().unwrap());
    assert_eq!(status, 400);
    assert_eq!(
        phrase,
        "Invalid attestations supplied during upload: Attestations are only supported when using Trusted Publishing"
    );
    // Refused attestations leave nothing, not even the project an all-projects token
    // would have created.
    let (_, all) = server
        .api(
            reqwest::Method::POST,
            "/tokens",
            Some(json!({"project": null})),
        )
        .await;
    let fresh = dists::build(&home.path().join("fresh"), "att-new", "1.0");
    let (status, phrase, _) = Upload::of(&fresh.wheel, "att-new", "1.0")
        .set("attestations", &json!([good]).to_string())
        .send_raw(&server, Some(&basic(all["token"].as_str().unwrap())));
    assert_eq!(status, 400, "{phrase}");
    assert!(
        phrase.contains("only supported when using Trusted Publishing"),
        "{phrase}"
    );
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    assert!(
        !projects.to_string().contains("att-new"),
        "a refused upload created its project: {projects}"
    );
    // The good attestation goes in, and PyPI's duplicate check comes first: the same
    // file again with a broken attestation is the quiet 200 of an identical upload.
    let (status, phrase, _) = upload(&json!([good]).to_string(), &oidc);
    assert_eq!(status, 200, "{phrase}");
    let (status, phrase, _) = upload("[]", &oidc);
    assert_eq!(status, 200, "{phrase}");
    assert_store_clean(&server, 1).await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Rule 2: ActiveState publishers have no attestation identity at PyPI.
#[tokio::test(flavor = "multi_thread")]
async fn activestate_publishers_cannot_attach_attestations() {
    let server = Server::spawn().await;
    let (status, body) = server
        .api(
            reqwest::Method::POST,
            "/publishers",
            Some(json!({"provider": "activestate", "project": "as-att", "organization": "octo", "activestate_project_name": "as-att"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = server
        .issue(json!({"provider": "activestate", "audience": "pypi", "identity": {"organization": "octo", "project": "as-att"}}))
        .await;
    let (status, minted) = server.mint(&token).await;
    assert_eq!(status, 200, "{minted}");
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "as-att", "1.0");
    let (status, phrase, _) = Upload::of(&d.wheel, "as-att", "1.0")
        .set("attestations", "[]")
        .send_raw(&server, Some(&basic(minted["token"].as_str().unwrap())));
    assert_eq!(status, 400);
    assert_eq!(
        phrase,
        "Invalid attestations supplied during upload: Attestations are not currently supported with ActiveState publishers"
    );
}

/// twine's `--attestations`: with an API token PyPI's rule 1 refuses them; with trusted
/// publishing (twine only trust-publishes to its own index: host impersonation) they go in.
#[tokio::test(flavor = "multi_thread")]
async fn twine_attestations_with_a_token_and_with_trusted_publishing() {
    let python = crate::common::venv().join("bin/python");
    let server = Server::launch(
        &["--impersonate-host", "twine"],
        &[("MOCK_PYPI_PYTHON", python.to_str().unwrap())],
    );
    let home = crate::common::tempdir();
    server
        .add_github_publisher("att-twine", "octo-org/att-twine", "release.yml", "")
        .await;
    let d = dists::build(&home.path().join("dist"), "att-twine", "1.0");
    let env = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/att-twine",
        "--workflow",
        "release.yml",
        "--impersonate",
    ]);
    let (ok, out) = attest(&server, &env, &[], &[&d.wheel]);
    assert!(ok, "{out}");
    let files = [d.wheel.clone(), attestation_of(&d.wheel)];
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();

    // An API token to the mock's own URL: twine warns, sends them, and PyPI's rule 1 refuses.
    let (_, api) = server
        .api(
            reqwest::Method::POST,
            "/tokens",
            Some(json!({"project": "att-twine"})),
        )
        .await;
    let mut cmd = client("twine", home.path());
    cmd.env("SSL_CERT_FILE", server.ca_file())
        .env("REQUESTS_CA_BUNDLE", server.ca_file())
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--attestations",
        ])
        .args(["--repository-url", &format!("{}/legacy/", server.https())])
        .args(["-u", "__token__", "-p", api["token"].as_str().unwrap()])
        .args(&files);
    let (ok, out) = run(&mut cmd);
    assert!(!ok, "{out}");
    // twine wraps its output: compare words.
    let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("Attestations are only supported when using Trusted Publishing"),
        "{out}"
    );
    assert_store_clean(&server, 0).await;

    // Trusted publishing to twine's default index, which the proxy impersonates.
    let mut cmd = client("twine", home.path());
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--attestations",
        ])
        .args(&files);
    let (ok, out) = run(&mut cmd);
    assert!(ok, "{out}\n{}", server.log());
    let page = server
        .get_json(&format!("{}/simple/att-twine/", server.http()))
        .await;
    assert!(page["files"][0]["provenance"].is_string(), "{page}");
}

/// GitLab and Google jobs sign too (their tokens reach `attest` as SIGSTORE_ID_TOKEN),
/// and the index applies PyPI's policy for each: GitLab's needs the commit and the ref,
/// Google's the e-mail.
#[tokio::test(flavor = "multi_thread")]
async fn gitlab_and_google_jobs_attest_for_their_publishers() {
    let server = Server::start();
    let home = crate::common::tempdir();
    for (provider, publisher, job) in [
        (
            "gitlab",
            json!({"provider": "gitlab", "project": "gl-att", "project_path": "octo-group/gl-att"}),
            vec!["env", "gitlab", "--project", "octo-group/gl-att"],
        ),
        (
            "google",
            json!({"provider": "google", "project": "gg-att", "email": "att@demo.iam.example"}),
            vec!["env", "google", "--email", "att@demo.iam.example"],
        ),
    ] {
        let (status, body) = server
            .api(
                reqwest::Method::POST,
                "/publishers",
                Some(publisher.clone()),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let project = publisher["project"].as_str().unwrap();
        let d = dists::build(&home.path().join(provider), project, "1.0");
        let env = server.env_vars(&job);
        let (ok, out) = attest(&server, &env, &[], &[&d.wheel]);
        assert!(ok, "{provider}: {out}");
        let oidc = env
            .iter()
            .find(|(k, _)| k == "PYPI_ID_TOKEN")
            .map(|(_, v)| v.clone())
            .expect("the job's PyPI token");
        let (status, minted) = server.mint(&oidc).await;
        assert_eq!(status, 200, "{provider}: {minted}");
        let field = format!(
            "[{}]",
            std::fs::read_to_string(attestation_of(&d.wheel)).unwrap()
        );
        let (status, phrase, _) = Upload::of(&d.wheel, project, "1.0")
            .set("attestations", &field)
            .send_raw(&server, Some(&basic(minted["token"].as_str().unwrap())));
        assert_eq!(status, 200, "{provider}: {phrase}");
        let page = server
            .get_json(&format!("{}/simple/{project}/", server.http()))
            .await;
        let url = page["files"][0]["provenance"].as_str().unwrap().to_owned();
        let provenance: Value = server
            .client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kind = &provenance["attestation_bundles"][0]["publisher"]["kind"];
        assert_eq!(
            kind,
            if provider == "gitlab" {
                "GitLab"
            } else {
                "Google"
            }
        );
    }
}

/// One release of `prov`: each file uploaded by uv from the job of its workflow,
/// attested by that job when the workflow is `Some`.
fn publish_release(server: &Server, home: &Path, version: &str, files: [Option<&str>; 2]) {
    let d = dists::build(&home.join(version), "prov", version);
    for (file, workflow) in [&d.wheel, &d.sdist].into_iter().zip(files) {
        let env = github_job(server, "octo-org/prov", workflow.unwrap_or("release.yml"));
        let mut upload = vec![file.as_path()];
        let attestation = attestation_of(file);
        if workflow.is_some() {
            let (ok, out) = attest(server, &env, &[], &[file]);
            assert!(ok, "{out}");
            upload.push(&attestation);
        }
        let (ok, out) = uv_publish(server, home, &env, &upload);
        assert!(ok, "{version}: {out}\n{}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_provenance_status_release_by_release() {
    let server = Server::start();
    let home = crate::common::tempdir();
    for workflow in ["release.yml", "other.yml"] {
        server
            .add_github_publisher("prov", "octo-org/prov", workflow, "")
            .await;
    }
    let (r, o) = (Some("release.yml"), Some("other.yml"));
    let history: [(&str, [Option<&str>; 2], &str); 7] = [
        ("1.0", [None, None], "no-provenance"),
        ("1.1", [r, r], "full-provenance"),
        ("1.2", [r, None], "partial-provenance"),
        ("1.3", [r, o], "inconsistent-provenance"),
        ("1.4", [None, None], "lost-provenance"),
        ("1.5", [r, r], "full-provenance"),
        ("1.6", [o, o], "changed-provenance"),
    ];
    for (version, files, _) in &history {
        publish_release(&server, home.path(), version, *files);
    }

    // The control API: each release, with its reasons.
    let (status, all) = server
        .api(reqwest::Method::GET, "/projects/prov/provenance", None)
        .await;
    assert_eq!(status, 200, "{all}");
    let got: Vec<(&str, &str)> = all["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    let want: Vec<(&str, &str)> = history.iter().map(|(v, _, s)| (*v, *s)).collect();
    assert_eq!(got, want);
    let (_, changed) = server
        .api(
            reqwest::Method::GET,
            "/projects/prov/releases/1.6/provenance",
            None,
        )
        .await;
    assert_eq!(changed["previous"], "1.5");
    assert_eq!(changed["added"][0]["workflow"], "other.yml", "{changed}");
    assert_eq!(
        changed["removed"][0]["workflow"], "release.yml",
        "{changed}"
    );
    let (status, _) = server
        .api(
            reqwest::Method::GET,
            "/projects/prov/releases/9.9/provenance",
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The JSON API, under mock-pypi's own key (PyPI serves no such thing).
    let release = server
        .get_json(&format!("{}/pypi/prov/1.3/json", server.http()))
        .await;
    assert_eq!(
        release["mock-pypi"]["provenance_status"],
        "inconsistent-provenance"
    );
    assert!(
        release["mock-pypi"]["note"]
            .as_str()
            .unwrap()
            .contains("not part of PyPI's JSON API")
    );
    let project = server
        .get_json(&format!("{}/pypi/prov/json", server.http()))
        .await;
    assert_eq!(
        project["mock-pypi"]["provenance_statuses"]["1.4"],
        "lost-provenance"
    );

    // The dashboard names the publisher and workflow that changed.
    let page = server
        .get_text(&format!("{}/_mock/dashboard/projects", server.http()))
        .await;
    for words in [
        "changed-provenance",
        "GitHub octo-org/prov (other.yml) added",
        "GitHub octo-org/prov (release.yml) removed",
        "lost-provenance",
        "1 of its 2 files have provenance",
    ] {
        assert!(page.contains(words), "{words} not on the page:\n{page}");
    }
}
