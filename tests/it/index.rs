//! What installers read: simple API negotiation and shapes, PEP 658 metadata, file
//! downloads with ranges, the JSON API; and the server's lifecycle.

use crate::common::{Server, dists};
use serde_json::Value;
use sha2::{Digest, Sha256};

const V1_JSON: &str = "application/vnd.pypi.simple.v1+json";

async fn publish(server: &Server, project: &str, version: &str) {
    if server
        .api(reqwest::Method::GET, "/publishers", None)
        .await
        .1["publishers"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        server
            .add_github_publisher(project, &format!("octo-org/{project}"), "release.yml", "")
            .await;
    }
    let oidc = server.github_token(&["--repository", &format!("octo-org/{project}")]);
    let token = server.mint(&oidc).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), project, version);
    for path in [&d.wheel, &d.sdist] {
        let bytes = std::fs::read(path).unwrap();
        let wheel = path.extension().is_some_and(|e| e == "whl");
        let form = reqwest::multipart::Form::new()
            .text(":action", "file_upload")
            .text("protocol_version", "1")
            .text("metadata_version", "2.1")
            .text("name", project.to_owned())
            .text("version", version.to_owned())
            .text("filetype", if wheel { "bdist_wheel" } else { "sdist" })
            .text("pyversion", if wheel { "py3" } else { "source" })
            .text("requires_python", ">=3.8")
            .text("summary", "Index test")
            .text("sha256_digest", hex::encode(Sha256::digest(&bytes)))
            .part(
                "content",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(path.file_name().unwrap().to_string_lossy().into_owned()),
            );
        let response = server
            .client()
            .post(format!("{}/legacy/", server.https()))
            .basic_auth("__token__", Some(&token))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_api_negotiates_and_describes_files() {
    let server = Server::spawn().await;
    publish(&server, "Index.Demo", "1.0").await;
    publish(&server, "Index.Demo", "1.1rc1").await;
    let http = server.client();
    let get = |path: &str, accept: Option<&str>| {
        let mut r = http.get(format!("{}{path}", server.http()));
        if let Some(a) = accept {
            r = r.header("Accept", a);
        }
        r.send()
    };

    let json = get(
        "/simple/index-demo/",
        Some(&format!(
            "{V1_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
        )),
    )
    .await
    .unwrap();
    assert_eq!(json.headers()["content-type"], V1_JSON);
    assert_eq!(json.headers()["vary"], "Accept");
    let page: Value = json.json().await.unwrap();
    assert_eq!(page["meta"]["api-version"], "1.4");
    assert_eq!(page["name"], "index-demo");
    assert_eq!(page["versions"], serde_json::json!(["1.0", "1.1rc1"]));
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    let wheel = files
        .iter()
        .find(|f| f["filename"] == "index_demo-1.0-py3-none-any.whl")
        .unwrap();
    assert_eq!(wheel["requires-python"], ">=3.8");
    assert!(wheel["size"].as_i64().unwrap() > 0);
    assert!(wheel["upload-time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(wheel["yanked"], false);

    // PEP 658: the metadata file exists and hashes to what the page says.
    let url = wheel["url"].as_str().unwrap();
    let metadata = get(&format!("{url}.metadata"), None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&metadata)),
        wheel["core-metadata"]["sha256"].as_str().unwrap()
    );
    assert!(String::from_utf8_lossy(&metadata).contains("Name: Index.Demo"));
    // The file itself, whole and by range.
    let whole = get(url, None).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&whole)),
        wheel["hashes"]["sha256"].as_str().unwrap()
    );
    let ranged = http
        .get(format!("{}{url}", server.http()))
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &whole[..10]);

    // HTML for browsers and for no Accept at all; escaped requires-python; hashes in fragments.
    for accept in [None, Some("text/html")] {
        let html = get("/simple/index-demo/", accept).await.unwrap();
        assert_eq!(html.headers()["content-type"], "text/html");
        let body = html.text().await.unwrap();
        assert!(body.contains("data-requires-python=\"&gt;=3.8\""), "{body}");
        assert!(body.contains(&format!(
            "#sha256={}",
            wheel["hashes"]["sha256"].as_str().unwrap()
        )));
        assert!(body.contains("data-core-metadata=\"sha256="));
    }
    let v1_html = get(
        "/simple/index-demo/",
        Some("application/vnd.pypi.simple.v1+html"),
    )
    .await
    .unwrap();
    assert_eq!(
        v1_html.headers()["content-type"],
        "application/vnd.pypi.simple.v1+html"
    );

    // Index page in both forms.
    let index: Value = get("/simple/", Some(V1_JSON))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(index["projects"][0]["name"], "Index.Demo");
    assert!(
        get("/simple/", None)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("<a href=\"/simple/index-demo/\">Index.Demo</a>")
    );

    // Redirects and 404s, PyPI-shaped.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, location) in [
        ("/simple/Index.Demo/", "/simple/index-demo/"),
        ("/simple/index-demo", "/simple/index-demo/"),
        ("/pypi/Index_Demo/json", "/pypi/index-demo/json"),
    ] {
        let r = no_redirect
            .get(format!("{}{path}", server.http()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 301, "{path}");
        assert_eq!(r.headers()["location"], location);
    }
    let missing = get("/simple/nope/", None).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "404 Not Found");
    let missing: Value = get("/pypi/nope/json", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["message"], "Not Found");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_api_describes_releases() {
    let server = Server::spawn().await;
    publish(&server, "jsonapi", "1.0").await;
    publish(&server, "jsonapi", "2.0b1").await;
    let body: Value = server
        .get_json(&format!("{}/pypi/jsonapi/json", server.https()))
        .await;
    // The latest is the highest non-prerelease.
    assert_eq!(body["info"]["version"], "1.0");
    assert_eq!(body["info"]["summary"], "Index test");
    assert_eq!(body["info"]["requires_python"], ">=3.8");
    assert_eq!(body["releases"].as_object().unwrap().len(), 2);
    let url = body["urls"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/files/", server.https())),
        "{url}"
    );
    assert_eq!(
        body["urls"][0]["digests"]["sha256"].as_str().unwrap().len(),
        64
    );
    let release: Value = server
        .get_json(&format!("{}/pypi/jsonapi/2.0b1/json", server.http()))
        .await;
    assert_eq!(release["info"]["version"], "2.0b1");
    assert_eq!(release["urls"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_keep_state_and_sigterm_shuts_down_cleanly() {
    let server = Server::start();
    publish(&server, "persist", "1.0").await;
    let ca = std::fs::read(server.ca_file()).unwrap();
    let admin = server.admin_token();
    let data_dir = server.data_dir();

    // SIGTERM: the process exits by itself, successfully.
    let pid = server.info["pid"].as_u64().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        server.log().contains("gracefully shut down"),
        "{}",
        server.log()
    );

    // Same data directory: same CA, same admin token, same projects.
    let mut again = crate::common::serve_command(&data_dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = crate::common::wait_for_server(&data_dir, again.id()).expect("restarted server");
    assert_eq!(std::fs::read(server.ca_file()).unwrap(), ca);
    assert_eq!(info["admin_token"].as_str().unwrap(), admin);
    let page = reqwest::get(format!(
        "{}/simple/persist/",
        info["http_url"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(page.status(), 200);
    let _ = again.kill();
    let _ = again.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_pages_follow_new_uploads() {
    let server = Server::spawn().await;
    publish(&server, "fresh", "1.0").await;
    let page = |accept: &'static str| {
        let client = server.client();
        let url = format!("{}/simple/fresh/", server.http());
        async move {
            client
                .get(url)
                .header("Accept", accept)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    for _ in 0..2 {
        assert!(page(V1_JSON).await.contains("fresh-1.0.tar.gz"));
        assert!(!page("text/html").await.contains("1.1"));
    }
    let index_before = server.get_text(&format!("{}/simple/", server.http())).await;
    assert!(!index_before.contains("later"));
    publish(&server, "fresh", "1.1").await;
    assert!(page(V1_JSON).await.contains("fresh-1.1-py3-none-any.whl"));
    assert!(page("text/html").await.contains("fresh-1.1.tar.gz"));
    // A new project shows up in the cached index page too.
    server
        .add_github_publisher("later", "octo-org/later", "release.yml", "")
        .await;
    let index_after = server.get_text(&format!("{}/simple/", server.http())).await;
    assert!(index_after.contains("/simple/later/"), "{index_after}");
}
