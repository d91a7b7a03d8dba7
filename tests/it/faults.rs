//! The index's faults on demand, one test per kind, through the real binary: what the
//! client sees, what the audit records, and that the stored state is exactly what the
//! fault promised.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::uploads::{Upload, assert_store_clean, basic, files_of, token_for};
use crate::common::{Server, dists, uv_publish};

async fn arm(server: &Server, definition: Value) -> Value {
    let (status, body) = server.api(Method::POST, "/faults", Some(definition)).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn events(server: &Server) -> Vec<Value> {
    let (_, body) = server.api(Method::GET, "/faults/events", None).await;
    body["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_definitions_are_refused_with_the_field_named() {
    let server = Server::spawn().await;
    for (definition, field) in [
        (json!({"route": "nowhere", "status": 503}), "route"),
        (json!({"route": "upload", "status": 600}), "status"),
        (
            json!({"route": "audience", "status": 503, "match": {"project": "x"}}),
            "match.project",
        ),
        (
            json!({"route": "upload", "token_lifetime": 5}),
            "token_lifetime",
        ),
        (
            json!({"route": "upload", "status": 503, "when": {"every": 0}}),
            "when.every",
        ),
    ] {
        let (status, body) = server.api(Method::POST, "/faults", Some(definition)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let (_, listed) = server.api(Method::GET, "/faults", None).await;
    assert_eq!(listed["faults"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_statuses_in_the_cdns_and_pypis_shapes() {
    let server = Server::start();
    arm(
        &server,
        json!({"route": "audience", "status": 503, "when": {"next": 2}}),
    )
    .await;
    let audience = format!("{}/_/oidc/audience", server.https());
    for _ in 0..2 {
        let r = server.client().get(&audience).send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["via"], "1.1 varnish");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Error 503 Service Unavailable")
        );
    }
    let r = server.client().get(&audience).send().await.unwrap();
    assert_eq!(r.status(), 200, "the fault was for the next 2 only");

    arm(
        &server,
        json!({"route": "mint-token", "status": 500, "style": "pypi", "when": {"next": 1}}),
    )
    .await;
    let (status, body) = server.mint("anything").await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], "Token request failed");
    assert_eq!(body["errors"][0]["code"], "server-error");

    let token = token_for(&server, "limited").await;
    arm(
        &server,
        json!({"route": "upload", "status": 429, "retry_after": 7, "when": {"next": 1}}),
    )
    .await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "limited", "1.0");
    let response = server
        .client()
        .post(format!("{}/legacy/", server.https()))
        .basic_auth("__token__", Some(&token))
        .multipart(reqwest::multipart::Form::new().text(":action", "file_upload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_store_clean(&server, 0).await;
    // Then the upload goes through.
    let (status, reason, _) =
        Upload::of(&d.wheel, "limited", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");

    // Every firing is recorded with the request it hit.
    let fired = events(&server).await;
    assert_eq!(fired.len(), 4, "{fired:?}");
    assert_eq!(fired[0]["route"], "upload");
    assert_eq!(fired[0]["action"]["retry_after"], 7);
    assert_eq!(fired[3]["path"], "/_/oidc/audience");
}

#[tokio::test(flavor = "multi_thread")]
async fn delays_and_drips() {
    let server = Server::start();
    let token = token_for(&server, "slow").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "slow", "1.0");
    arm(
        &server,
        json!({"route": "upload", "delay_ms": 800, "when": {"next": 1}}),
    )
    .await;
    let start = Instant::now();
    let (status, reason, _) =
        Upload::of(&d.wheel, "slow", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    assert!(start.elapsed() >= Duration::from_millis(800));

    let page = server
        .get_text(&format!("{}/simple/slow/", server.http()))
        .await;
    arm(&server, json!({"route": "simple-project", "drip_bytes_per_second": 2000, "match": {"project": "slow"}})).await;
    let start = Instant::now();
    let dripped = server
        .get_text(&format!("{}/simple/slow/", server.http()))
        .await;
    assert_eq!(dripped, page, "a dripped page is the whole page");
    let expected = Duration::from_secs_f64(page.len() as f64 / 2000.0 * 0.8);
    assert!(
        start.elapsed() >= expected,
        "{:?} < {expected:?}",
        start.elapsed()
    );
    // Other projects' pages are not matched.
    let start = Instant::now();
    let _ = server.get_text(&format!("{}/simple/", server.http())).await;
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_leave_nothing_behind() {
    let server = Server::start();
    let token = token_for(&server, "cut").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "cut", "1.0");
    for close in [
        json!({"close": "before-body"}),
        json!({"close": "after-body-bytes", "after_bytes": 1500}),
    ] {
        let mut definition = json!({"route": "upload", "when": {"next": 1}});
        definition
            .as_object_mut()
            .unwrap()
            .extend(close.as_object().unwrap().clone());
        arm(&server, definition.clone()).await;
        let answer = tokio::task::spawn_blocking({
            let (token, wheel, port) = (token.clone(), d.wheel.clone(), server.port);
            move || raw_upload(port, &token, &wheel)
        })
        .await
        .unwrap();
        assert!(
            answer.is_empty(),
            "{definition}: the connection should close without an answer, got {answer:?}"
        );
        assert_store_clean(&server, 0).await;
    }
    // The next upload is whole and stored once.
    let (status, reason, _) =
        Upload::of(&d.wheel, "cut", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    assert_store_clean(&server, 1).await;

    // Mid-response: the simple page stops short, and the client notices.
    arm(
        &server,
        json!({"route": "simple-project", "close": "mid-response", "after_bytes": 40}),
    )
    .await;
    let r = server
        .client()
        .get(format!("{}/simple/cut/", server.http()))
        .send()
        .await;
    let whole = match r {
        Ok(r) => r.text().await.is_ok(),
        Err(_) => false,
    };
    assert!(!whole, "a cut response must not read as complete");
}

/// Send a raw upload over plain HTTP, slowly enough that a cut lands mid-body; what came
/// back (possibly nothing).
fn raw_upload(port: u16, token: &str, wheel: &std::path::Path) -> String {
    raw_upload_stalling(port, token, wheel, None)
}

/// [`raw_upload`], stopping after `stall_after` bytes of the body (then only reading).
fn raw_upload_stalling(
    port: u16,
    token: &str,
    wheel: &std::path::Path,
    stall_after: Option<usize>,
) -> String {
    let upload = Upload::of(wheel, "cut", "1.0");
    let boundary = "mockpypicut";
    let mut body = Vec::new();
    for (k, v) in &upload.fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n", upload.filename).unwrap();
    body.extend_from_slice(&upload.content);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /legacy/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        basic(token),
        body.len()
    );
    // A write fails once the server has dropped the connection; what matters is the answer.
    let sent = stall_after.unwrap_or(body.len()).min(body.len());
    let _ = stream.write_all(head.as_bytes()).and_then(|_| {
        for chunk in body[..sent].chunks(1024) {
            stream.write_all(chunk)?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    });
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Not a fault but what one provokes: a client that stops sending mid-body (twine
/// retrying a half-read stream does) is answered 408 once the body has been quiet for
/// `--upload-idle-timeout`, the connection closes, and nothing is kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_upload_is_answered_408() {
    let server = Server::launch(&["--upload-idle-timeout", "1"], &[]);
    let token = token_for(&server, "cut").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "cut", "1.0");
    let start = Instant::now();
    let answer = tokio::task::spawn_blocking({
        let (token, wheel, port) = (token.clone(), d.wheel.clone(), server.port);
        move || raw_upload_stalling(port, &token, &wheel, Some(1500))
    })
    .await
    .unwrap();
    let took = start.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 408 ")
            && answer.contains("no part of the upload arrived for 1 s"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Answered at once when the quiet time is up, not after a drain.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_store_clean(&server, 0).await;
    assert!(files_of(&server, "cut").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn token_faults_short_lifetimes_and_no_expires() {
    let server = Server::start();
    server
        .add_github_publisher("short", "octo-org/short", "release.yml", "")
        .await;
    arm(
        &server,
        json!({"route": "mint-token", "token_lifetime": 1, "when": {"next": 1}}),
    )
    .await;
    let oidc = server.github_token(&["--repository", "octo-org/short"]);
    let (status, minted) = server.mint(&oidc).await;
    assert_eq!(status, 200, "{minted}");
    let expires = minted["expires"].as_i64().unwrap();
    assert!(expires <= mock_pypi::util::now() + 1, "{minted}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "short", "1.0");
    let (status, reason, _) = Upload::of(&d.wheel, "short", "1.0")
        .send_raw(&server, Some(&basic(minted["token"].as_str().unwrap())));
    assert_eq!(
        (status, reason.as_str()),
        (403, "Invalid API Token: token is expired")
    );

    arm(
        &server,
        json!({"route": "mint-token", "omit_expires": true, "when": {"next": 1}}),
    )
    .await;
    let oidc = server.github_token(&["--repository", "octo-org/short"]);
    let (status, minted) = server.mint(&oidc).await;
    assert_eq!(status, 200);
    assert!(minted.get("expires").is_none(), "{minted}");
    assert!(minted["token"].as_str().unwrap().starts_with("pypi-"));

    // Each exchange's audit names the fault that shaped it; the fault-free one none.
    let (_, log) = server.api(Method::GET, "/exchanges", None).await;
    let faults_of = |e: &Value| -> Vec<String> {
        e["detail"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["step"] == "fault")
            .map(|s| s["detail"].as_str().unwrap().to_owned())
            .collect()
    };
    let exchanges = log["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 2, "{log}");
    assert_eq!(
        faults_of(&exchanges[0]),
        ["fault 2: answer success without `expires`"]
    );
    assert_eq!(
        faults_of(&exchanges[1]),
        ["fault 1: mint a token that expires after 1 s"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_then_5xx_and_stale_pages() {
    let server = Server::start();
    let token = token_for(&server, "halfway").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "halfway", "1.0");
    arm(&server, json!({"route": "upload", "stored_then_status": 503, "match": {"filename": "*.whl"}, "when": {"next": 1}})).await;
    let (status, _, body) =
        Upload::of(&d.wheel, "halfway", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 503);
    assert!(body.contains("Varnish"), "{body}");
    assert_store_clean(&server, 1).await;
    // The client retries into PyPI's quiet 200 for the very same file; nothing doubles.
    let (status, reason, _) =
        Upload::of(&d.wheel, "halfway", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    assert_eq!(files_of(&server, "halfway").await.len(), 1);
    // The sdist did not match the filename glob.
    let (status, reason, _) =
        Upload::of(&d.sdist, "halfway", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");

    let d2 = dists::build(&home.path().join("2"), "halfway", "2.0");
    arm(&server, json!({"route": "upload", "stale_seconds": 2})).await;
    let (status, reason, _) =
        Upload::of(&d2.wheel, "halfway", "2.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    let page = server
        .get_json(&format!("{}/simple/halfway/", server.http()))
        .await;
    let names: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"halfway-2.0-py3-none-any.whl"),
        "{names:?}"
    );
    assert_eq!(
        files_of(&server, "halfway").await.len(),
        3,
        "stored all the same"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let page = server
        .get_json(&format!("{}/simple/halfway/", server.http()))
        .await;
    assert_eq!(page["files"].as_array().unwrap().len(), 3, "{page}");
}

/// The reusable-workflow scenario through uv: the called workflow is what PyPI looks a
/// publisher up by, so uv shows PyPI's refusal.
#[tokio::test(flavor = "multi_thread")]
async fn scenarios_arm_their_faults_and_say_what_to_expect() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("reuse", "octo-org/reuse", "release.yml", "")
        .await;
    let (status, armed) = server
        .api(Method::POST, "/scenarios/reusable-workflow/arm", None)
        .await;
    assert_eq!(status, 201, "{armed}");
    assert_eq!(armed["armed"][0]["scenario"], "reusable-workflow");
    assert!(
        armed["scenario"]["expected"]
            .as_str()
            .unwrap()
            .contains("refusal")
    );
    let d = dists::build(&home.path().join("dist"), "reuse", "1.0");
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/reuse"]);
    let (ok, out) = uv_publish(&server, home.path(), &env, &[&d.wheel]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("invalid-publisher")
            || out.contains("valid token, but no corresponding publisher"),
        "{out}"
    );
    let (_, log) = server.api(Method::GET, "/exchanges?limit=1", None).await;
    let claims = &log["exchanges"][0]["detail"]["claims"];
    assert_eq!(
        claims["job_workflow_ref"],
        "octo-org/reuse/.github/workflows/reusable-publish.yml@refs/heads/main"
    );
    assert_eq!(
        claims["workflow_ref"],
        "octo-org/reuse/.github/workflows/release.yml@refs/heads/main"
    );

    let (status, _) = server
        .api(Method::POST, "/scenarios/no-such-thing/arm", None)
        .await;
    assert_eq!(status, 404);
    // Faults never fire on the control API, and a reset disarms them.
    arm(&server, json!({"route": "simple-index", "status": 500})).await;
    let (status, _) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(status, 200);
    let (status, _) = server.api(Method::POST, "/reset", None).await;
    assert_eq!(status, 200);
    let (_, listed) = server.api(Method::GET, "/faults", None).await;
    assert_eq!(listed["faults"], json!([]));
}

/// A slow key set slows the first exchange, which still succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_key_set() {
    let server = Server::start();
    server
        .add_github_publisher("keys", "octo-org/keys", "release.yml", "")
        .await;
    arm(
        &server,
        json!({"route": "issuer-jwks", "delay_ms": 1500, "match": {"provider": "github"}}),
    )
    .await;
    let oidc = server.github_token(&["--repository", "octo-org/keys"]);
    let start = Instant::now();
    let (status, body) = server.mint(&oidc).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_faulted_first_upload_creates_no_project() {
    let server = Server::start();
    // An all-projects API token may create a project, as a user's token can.
    let (status, created) = server
        .api(Method::POST, "/tokens", Some(json!({"project": null})))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    arm(
        &server,
        json!({"route": "upload", "status": 503, "match": {"project": "brand-new"}, "when": {"next": 1}}),
    )
    .await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "brand-new", "1.0");
    let upload = Upload::of(&d.wheel, "brand-new", "1.0");
    let (status, _, _) = upload.send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 503);
    let projects = |listing: Value| -> Vec<String> {
        listing["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["normalized_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, listing) = server.api(Method::GET, "/projects", None).await;
    assert!(
        !projects(listing).contains(&"brand-new".to_owned()),
        "the faulted upload left its project behind"
    );
    assert_store_clean(&server, 0).await;
    // The fault was for the next one only: the same upload then creates it.
    let (status, reason, _) = upload.send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    let (_, listing) = server.api(Method::GET, "/projects", None).await;
    assert!(projects(listing).contains(&"brand-new".to_owned()));
}
