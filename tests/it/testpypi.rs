//! TestPyPI beside PyPI in one server (`serve --testpypi`): separate projects, files,
//! publishers, tokens and audiences; TestPyPI under `/test/` and, through host
//! impersonation, under its own host name (read from twine); the most common two-index
//! pipeline, "TestPyPI on every push, PyPI on tags", run as a real workflow under
//! `mock-pypi act` with uv and twine.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::uploads::{Upload, basic};
use crate::common::{ROOT, Server, binary, dists, git_repo, tempdir, venv};

fn two_index_server() -> Server {
    let python = venv().join("bin/python");
    Server::launch(
        &["--testpypi", "--impersonate-host", "twine"],
        &[("MOCK_PYPI_PYTHON", python.to_str().unwrap())],
    )
}

async fn test_api(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .client()
        .request(method, format!("{}/test/_mock/api{path}", server.http()))
        .bearer_auth(server.admin_token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn cli(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_indexes_keep_their_projects_publishers_tokens_and_audiences_apart() {
    let server = two_index_server();
    assert_eq!(server.info["testpypi"]["audience"], "testpypi");
    let audience = server
        .get_json(&format!("{}/test/_/oidc/audience", server.https()))
        .await;
    assert_eq!(audience, json!({"audience": "testpypi"}));

    // Publishers through the CLI, per index, each listed only on its own.
    cli(
        &server,
        &[
            "publisher",
            "add",
            "github",
            "--index",
            "testpypi",
            "--project",
            "apart",
            "--repository",
            "octo-org/apart",
            "--environment",
            "testpypi",
        ],
    );
    let (_, test) = test_api(&server, Method::GET, "/publishers", None).await;
    assert_eq!(test["publishers"].as_array().unwrap().len(), 1, "{test}");
    let (_, main) = server.api(Method::GET, "/publishers", None).await;
    assert!(main["publishers"].as_array().unwrap().is_empty(), "{main}");

    // A token for TestPyPI's audience mints there; the same job's PyPI token does not.
    let test_oidc = server.github_token(&[
        "--index",
        "testpypi",
        "--repository",
        "octo-org/apart",
        "--environment",
        "testpypi",
    ]);
    let mint = |path: &'static str, token: String| {
        let client = server.client();
        let url = format!("{}{path}", server.https());
        async move {
            let r = client
                .post(url)
                .json(&json!({"token": token}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let pypi_oidc = server.github_token(&[
        "--repository",
        "octo-org/apart",
        "--environment",
        "testpypi",
    ]);
    let (status, refused) = mint("/test/_/oidc/mint-token", pypi_oidc).await;
    assert_eq!(status, 422, "{refused}");
    let why = refused["errors"][0]["description"].as_str().unwrap();
    assert!(
        why.contains("audience 'pypi' is not ours ('testpypi')")
            && why.contains("requested for PyPI's audience, and this is TestPyPI"),
        "{why}"
    );
    let (status, minted) = mint("/test/_/oidc/mint-token", test_oidc).await;
    assert_eq!(status, 200, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();

    // The token uploads to TestPyPI and is unknown to PyPI, in PyPI's words.
    let home = tempdir();
    let d = dists::build(home.path(), "apart", "1.0");
    let (status, reason, _) = Upload::of(&d.wheel, "apart", "1.0").send_raw_to(
        &server,
        "/test/legacy/",
        Some(&basic(&token)),
    );
    assert_eq!(status, 200, "{reason}");
    let (status, reason, _) =
        Upload::of(&d.sdist, "apart", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 403);
    assert!(
        reason.starts_with("Invalid or non-existent authentication information."),
        "{reason}"
    );

    // Each index shows only its own files, and links them under its own paths.
    let test_page = server
        .get_json(&format!("{}/test/simple/apart/", server.http()))
        .await;
    let url = test_page["files"][0]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/test/files/"), "{test_page}");
    let file = server
        .client()
        .get(format!("{}{url}", server.http()))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    let main_page = server
        .client()
        .get(format!("{}/simple/apart/", server.http()))
        .send()
        .await
        .unwrap();
    assert_eq!(main_page.status(), 404);
    let json_api = server
        .get_json(&format!("{}/test/pypi/apart/json", server.http()))
        .await;
    assert!(
        json_api["urls"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/test/files/"),
        "{json_api}"
    );

    // The dashboards name their index and link to the other.
    let page = server
        .get_text(&format!("{}/test/_mock/dashboard/projects", server.http()))
        .await;
    assert!(
        page.contains("<strong>TestPyPI</strong>")
            && page.contains("href=\"/_mock/dashboard/\">PyPI</a>"),
        "{page}"
    );
    assert!(page.contains("href=\"/test/simple/apart/\""), "{page}");
    let page = server
        .get_text(&format!("{}/_mock/dashboard/", server.http()))
        .await;
    assert!(
        page.contains("<strong>PyPI</strong>")
            && page.contains("/test/_mock/dashboard/\">TestPyPI</a>"),
        "{page}"
    );

    // One reset empties both.
    assert_eq!(server.api(Method::POST, "/reset", None).await.0, 200);
    let (_, test) = test_api(&server, Method::GET, "/publishers", None).await;
    assert!(test["publishers"].as_array().unwrap().is_empty(), "{test}");
}

#[tokio::test(flavor = "multi_thread")]
async fn testpypi_on_every_push_and_pypi_on_tags_under_act_with_uv_and_twine() {
    let server = two_index_server();
    let test_upload = crate::common::twine_repository("TEST_REPOSITORY");
    let test_host = url::Url::parse(&test_upload)
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.info["testpypi"]["host"], test_host.as_str());
    for (index, environment) in [("testpypi", "testpypi"), ("pypi", "pypi")] {
        cli(
            &server,
            &[
                "publisher",
                "add",
                "github",
                "--index",
                index,
                "--project",
                "two-index",
                "--repository",
                "octo-org/two-index",
                "--workflow",
                "release.yml",
                "--environment",
                environment,
            ],
        );
    }
    let pypi_upload = server.info["upload_url"].as_str().unwrap().to_owned();
    // The usual two-index workflow: TestPyPI (uv for the wheel, twine for the sdist, by
    // its `testpypi` repository) on every push, PyPI on tags; each job its environment.
    let make_dist = Path::new(ROOT)
        .join("demo/make_dist.py")
        .display()
        .to_string();
    let workflow = format!(
        r#"name: release
on: push
jobs:
  testpypi:
    if: ${{{{ !startsWith(github.ref, 'refs/tags/') }}}}
    runs-on: ubuntu-latest
    environment: testpypi
    permissions:
      id-token: write
    steps:
      - run: python3 {make_dist} two-index 1.0.dev1 dist
      - run: uv publish --trusted-publishing always --publish-url {test_upload} dist/*.whl
      - run: twine upload --non-interactive --disable-progress-bar --repository testpypi dist/*.tar.gz
  pypi:
    if: ${{{{ startsWith(github.ref, 'refs/tags/') }}}}
    runs-on: ubuntu-latest
    environment: pypi
    permissions:
      id-token: write
    steps:
      - run: python3 {make_dist} two-index 1.0 dist
      - run: uv publish --trusted-publishing always --publish-url {pypi_upload} dist/*
"#
    );
    let dir = tempdir();
    let repo = dir.path().join("repo");
    git_repo(
        &repo,
        "git@git.example:octo-org/two-index.git",
        &[(".github/workflows/release.yml", &workflow)],
    );
    let data = server.data_dir();
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        binary().parent().unwrap().display(),
        venv().join("bin").display()
    );
    let act = |extra: &[&str]| {
        let out = Command::new(binary())
            .current_dir(&repo)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .args([
                "act",
                "--data-dir",
                data.to_str().unwrap(),
                "--impersonate",
                "push",
            ])
            .args(extra)
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), log)
    };
    let files = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| {
                p["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["filename"].as_str().unwrap().to_owned())
            })
            .collect();
        names.sort();
        names
    };

    // A push to main: TestPyPI gets the dev release, PyPI nothing.
    let (ok, log) = tokio::task::block_in_place(|| act(&[]));
    assert!(ok, "{log}");
    assert!(
        log.contains("TestPyPI exchange 1 accepted")
            && log.contains("TestPyPI exchange 2 accepted"),
        "{log}"
    );
    let (_, test) = test_api(&server, Method::GET, "/projects", None).await;
    assert_eq!(
        files(&test),
        [
            "two_index-1.0.dev1-py3-none-any.whl",
            "two_index-1.0.dev1.tar.gz"
        ],
        "{log}"
    );
    let (_, main) = server.api(Method::GET, "/projects", None).await;
    assert!(files(&main).is_empty(), "{main}");
    // uv burned its TestPyPI token on TestPyPI.
    let (_, burns) = test_api(&server, Method::GET, "/burns", None).await;
    assert_eq!(burns["burns"][0]["outcome"], "burned", "{burns}");

    // A tag: PyPI gets the release, TestPyPI keeps what it had.
    let event = dir.path().join("tag.json");
    std::fs::write(&event, json!({"ref": "refs/tags/v1.0"}).to_string()).unwrap();
    let (ok, log) = tokio::task::block_in_place(|| act(&["-e", event.to_str().unwrap()]));
    assert!(ok, "{log}");
    assert!(log.contains("PyPI exchange 1 accepted"), "{log}");
    let (_, main) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(
        files(&main),
        ["two_index-1.0-py3-none-any.whl", "two_index-1.0.tar.gz"]
    );
    let (_, test) = test_api(&server, Method::GET, "/projects", None).await;
    assert_eq!(files(&test).len(), 2);
    let (_, exchanges) = server.api(Method::GET, "/exchanges", None).await;
    assert_eq!(
        exchanges["exchanges"][0]["detail"]["claims"]["environment"],
        "pypi"
    );
}
