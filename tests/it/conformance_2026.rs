//! The conformance tables of PyPI's late-2026 behaviour that are not token exchanges:
//! burn-token (`tests/conformance/burn.toml`), lifecycle statuses (`lifecycle.toml`)
//! and TestPyPI beside PyPI (`testpypi.toml`), each case through the real endpoints.
//! (Provenance statuses are a pure rule: `provenance.toml` runs in its unit test.)

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::uploads::{Upload, basic, token_for};

fn table<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Burn {
    name: String,
    token: String,
    body: Option<String>,
    #[serde(default)]
    before: usize,
    #[serde(default)]
    padded: bool,
    expect: u16,
    outcome: Option<String>,
    upload: Option<u16>,
}

async fn post_burn(server: &Server, body: String) -> (u16, Value) {
    let r = server
        .client()
        .post(format!("{}/_/oidc/burn-token", server.https()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn burn_case(
    server: &Server,
    home: &std::path::Path,
    n: usize,
    case: &Burn,
) -> Result<(), String> {
    server.api(Method::POST, "/reset", None).await;
    let project = format!("burn-{n}");
    let token = match case.token.as_str() {
        "minted" => token_for(server, &project).await,
        "api" => crate::common::publishing::api_token(server, &project),
        "unknown" => {
            "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAAAAA".into()
        }
        _ => String::new(),
    };
    let presented = if case.padded {
        format!("  {token}\n")
    } else {
        token.clone()
    };
    let body = case
        .body
        .clone()
        .unwrap_or_else(|| json!({ "token": presented }).to_string());
    for _ in 0..case.before {
        post_burn(server, body.clone()).await;
    }
    let (status, answer) = post_burn(server, body).await;
    if status != case.expect {
        return Err(format!("answered {status}, not {}: {answer}", case.expect));
    }
    if status == 202 && answer != json!({"message": "Accepted", "errors": []}) {
        return Err(format!("not PyPI's body: {answer}"));
    }
    if status == 422 && answer["errors"][0]["code"] != "invalid-payload" {
        return Err(format!("not invalid-payload: {answer}"));
    }
    let (_, burns) = server.api(Method::GET, "/burns", None).await;
    let newest = burns["burns"][0]["outcome"].as_str().map(str::to_owned);
    if newest != case.outcome {
        return Err(format!("recorded {newest:?}, not {:?}", case.outcome));
    }
    if let Some(want) = case.upload {
        let d = crate::common::dists::build(&home.join(&project), &project, "1.0");
        let (got, reason, _) =
            Upload::of(&d.wheel, &project, "1.0").send_raw(server, Some(&basic(&token)));
        if got != want {
            return Err(format!("the upload after got {got} {reason}, not {want}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_of_the_burn_table() {
    #[derive(Deserialize)]
    struct Table {
        burn: Vec<Burn>,
    }
    let t: Table = table("burn.toml");
    assert!(t.burn.len() >= 10);
    let server = Server::spawn().await;
    let home = crate::common::tempdir();
    let mut failures = Vec::new();
    for (n, case) in t.burn.iter().enumerate() {
        if let Err(e) = burn_case(&server, home.path(), n, case).await {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lifecycle {
    name: String,
    #[serde(default = "active")]
    project: String,
    release: Option<String>,
    token: String,
    expect: u16,
    listed: bool,
}

fn active() -> String {
    "active".into()
}

async fn lifecycle_case(
    server: &Server,
    home: &std::path::Path,
    n: usize,
    case: &Lifecycle,
) -> Result<(), String> {
    server.api(Method::POST, "/reset", None).await;
    let name = format!("life-{n}");
    let oidc = token_for(server, &name).await;
    let api = crate::common::publishing::api_token(server, &name);
    let d = crate::common::dists::build(&home.join(&name), &name, "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, &name, "1.0").send_raw(server, Some(&basic(&oidc)));
    if status != 200 {
        return Err(format!("the first upload failed: {status} {reason}"));
    }
    let (status, body) = server
        .api(
            Method::PATCH,
            &format!("/projects/{name}"),
            Some(json!({"status": case.project})),
        )
        .await;
    if status != 200 {
        return Err(format!("setting the project's status: {body}"));
    }
    if let Some(release) = &case.release {
        let (status, body) = server
            .api(
                Method::PATCH,
                &format!("/projects/{name}/releases/1.0"),
                Some(json!({"status": release})),
            )
            .await;
        if status != 200 {
            return Err(format!("setting the release's status: {body}"));
        }
    }
    let token = if case.token == "api" { &api } else { &oidc };
    let (status, reason, _) =
        Upload::of(&d.sdist, &name, "1.0").send_raw(server, Some(&basic(token)));
    if status != case.expect {
        return Err(format!(
            "the upload got {status} {reason}, not {}",
            case.expect
        ));
    }
    if status == 403 && !reason.starts_with("The given token isn't allowed to upload to project") {
        return Err(format!("not PyPI's words: {reason}"));
    }
    let page = server
        .get_json(&format!("{}/simple/{name}/", server.http()))
        .await;
    let listed = page["files"].as_array().is_some_and(|f| {
        f.iter()
            .any(|f| f["filename"].as_str().is_some_and(|n| n.ends_with(".whl")))
    });
    if listed != case.listed {
        return Err(format!("listed {listed}, not {}: {page}", case.listed));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_of_the_lifecycle_table() {
    #[derive(Deserialize)]
    struct Table {
        lifecycle: Vec<Lifecycle>,
    }
    let t: Table = table("lifecycle.toml");
    assert!(t.lifecycle.len() >= 10);
    let server = Server::spawn().await;
    let home = crate::common::tempdir();
    let mut failures = Vec::new();
    for (n, case) in t.lifecycle.iter().enumerate() {
        if let Err(e) = lifecycle_case(&server, home.path(), n, case).await {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    name: String,
    publisher: String,
    audience: String,
    mint: String,
    expect_mint: String,
    reason: Option<String>,
    upload: Option<String>,
    expect_upload: Option<u16>,
}

fn mount(index: &str) -> &'static str {
    if index == "testpypi" { "/test" } else { "" }
}

async fn index_case(
    server: &Server,
    home: &std::path::Path,
    n: usize,
    case: &Index,
) -> Result<(), String> {
    server.api(Method::POST, "/reset", None).await;
    let project = format!("pair-{n}");
    let repository = format!("octo-org/{project}");
    let on: &[&str] = match case.publisher.as_str() {
        "both" => &["pypi", "testpypi"],
        "testpypi" => &["testpypi"],
        _ => &["pypi"],
    };
    for index in on {
        let out = server.cli(&[
            "publisher",
            "add",
            "github",
            "--index",
            index,
            "--project",
            &project,
            "--repository",
            &repository,
        ]);
        if !out.status.success() {
            return Err(format!(
                "publisher on {index}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let oidc = server.github_token(&["--repository", &repository, "--audience", &case.audience]);
    let r = server
        .client()
        .post(format!(
            "{}{}/_/oidc/mint-token",
            server.https(),
            mount(&case.mint)
        ))
        .json(&json!({ "token": oidc }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let code = if status == 200 {
        "accepted"
    } else {
        body["errors"][0]["code"].as_str().unwrap_or("?")
    };
    if code != case.expect_mint {
        return Err(format!("mint: {code}, not {}: {body}", case.expect_mint));
    }
    if let Some(words) = &case.reason {
        let description = body["errors"][0]["description"].as_str().unwrap_or("");
        if !description.contains(words.as_str()) {
            return Err(format!("the description lacks '{words}': {description}"));
        }
    }
    if let (Some(index), Some(want)) = (&case.upload, case.expect_upload) {
        let token = body["token"].as_str().unwrap_or_default();
        let d = crate::common::dists::build(&home.join(&project), &project, "1.0");
        let path = format!("{}/legacy/", mount(index));
        let (got, reason, _) =
            Upload::of(&d.wheel, &project, "1.0").send_raw_to(server, &path, Some(&basic(token)));
        if got != want {
            return Err(format!("upload to {index}: {got} {reason}, not {want}"));
        }
        if got == 403 && !reason.starts_with("Invalid or non-existent authentication information.")
        {
            return Err(format!("not PyPI's words: {reason}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_of_the_testpypi_table() {
    #[derive(Deserialize)]
    struct Table {
        index: Vec<Index>,
    }
    let t: Table = table("testpypi.toml");
    assert!(t.index.len() >= 10);
    let server = Server::start_with(&["--testpypi"]);
    let home = crate::common::tempdir();
    let mut failures = Vec::new();
    for (n, case) in t.index.iter().enumerate() {
        if let Err(e) = index_case(&server, home.path(), n, case).await {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
