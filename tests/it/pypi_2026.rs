//! PyPI's 2026 rules through the real endpoints, with PyPI's texts: release age,
//! pending-publisher expiry, prohibited names, PEP 792 project status and PEP 807
//! discovery with single-use tokens.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::uploads::{Upload, assert_store_clean, basic, files_of, token_for};
use crate::common::{Server, dists};

const TOO_OLD: &str = "Uploading new files to releases older than 14 days is not allowed.";

/// An API token for every project (it may create projects).
async fn all_projects_token(server: &Server) -> String {
    let (status, body) = server
        .api(
            Method::POST,
            "/tokens",
            Some(json!({"description": "2026 rules"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn new_files_for_old_releases_are_refused_after_the_duplicate_checks() {
    let server = Server::spawn().await;
    let token = token_for(&server, "aged").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "aged", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "aged", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");

    // A release 13 days old still takes files; one 15 days old does not.
    let backdate = |days: f64| {
        server.api(
            Method::PATCH,
            "/projects/aged/releases/1.0",
            Some(json!({"age_days": days})),
        )
    };
    let (status, body) = backdate(15.0).await;
    assert_eq!(status, 200, "{body}");
    let (status, reason, body) =
        Upload::of(&d.sdist, "aged", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!((status, reason.as_str()), (400, TOO_OLD), "{body}");
    assert!(body.contains(TOO_OLD), "{body}");
    assert_store_clean(&server, 1).await;
    // PyPI looks for duplicates first: the very same wheel again is still a quiet 200.
    let (status, reason, _) =
        Upload::of(&d.wheel, "aged", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    // A new release is new: its files go in.
    let d2 = dists::build(&home.path().join("2"), "aged", "2.0");
    let (status, reason, _) =
        Upload::of(&d2.wheel, "aged", "2.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");

    assert_eq!(backdate(13.0).await.0, 200);
    let (status, reason, _) =
        Upload::of(&d.sdist, "aged", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    assert_eq!(files_of(&server, "aged").await.len(), 3);

    // Unknown releases and bad bodies are told apart.
    let (status, _) = server
        .api(
            Method::PATCH,
            "/projects/aged/releases/9.9",
            Some(json!({"age_days": 1})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = server
        .api(
            Method::PATCH,
            "/projects/aged/releases/1.0",
            Some(json!({"age_days": -1})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_release_age_is_configurable_and_can_be_turned_off() {
    for (flag, age, refused) in [("3", 4.0, true), ("3", 2.0, false), ("0", 400.0, false)] {
        let server = Server::spawn_with(&["--max-release-age-days", flag]).await;
        let token = all_projects_token(&server).await;
        let home = crate::common::tempdir();
        let d = dists::build(home.path(), "window", "1.0");
        let (status, reason, _) =
            Upload::of(&d.wheel, "window", "1.0").send_raw(&server, Some(&basic(&token)));
        assert_eq!(status, 200, "{reason}");
        server
            .api(
                Method::PATCH,
                "/projects/window/releases/1.0",
                Some(json!({"age_days": age})),
            )
            .await;
        let (status, reason, _) =
            Upload::of(&d.sdist, "window", "1.0").send_raw(&server, Some(&basic(&token)));
        if refused {
            assert_eq!(
                (status, reason.as_str()),
                (
                    400,
                    "Uploading new files to releases older than 3 days is not allowed."
                ),
            );
        } else {
            assert_eq!(status, 200, "flag {flag}, age {age}: {reason}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_publishers_expire_and_the_exchange_says_so() {
    let server = Server::spawn().await;
    let publisher = server
        .add_pending_github_publisher("fresh-start", "octo-org/fresh-start")
        .await;
    let id = publisher["id"].as_i64().unwrap();
    let created = publisher["created_at"].as_i64().unwrap();
    assert_eq!(publisher["expires_at"], created + 30 * 86_400);

    // 31 days later it no longer matches; the refusal names it and when it expired.
    let (status, body) = server
        .api(
            Method::PATCH,
            &format!("/publishers/{id}"),
            Some(json!({"age_days": 31})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = server.github_token(&["--repository", "octo-org/fresh-start"]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid-publisher");
    let description = body["errors"][0]["description"].as_str().unwrap();
    assert!(
        description.contains(&format!(
            "pending publisher {id} for 'fresh-start' matches this token but expired at"
        )),
        "{description}"
    );
    let (_, log) = server.api(Method::GET, "/exchanges?limit=1", None).await;
    let steps = log["exchanges"][0]["detail"]["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["step"] == "pending" && s["ok"] == false),
        "{steps:?}"
    );
    let (_, listed) = server.api(Method::GET, "/publishers", None).await;
    let listed = &listed["publishers"][0];
    assert!(
        listed["expires_at"].as_i64().unwrap() < mock_pypi::util::now(),
        "{listed}"
    );

    // At 29 days it still creates its project.
    server
        .api(
            Method::PATCH,
            &format!("/publishers/{id}"),
            Some(json!({"age_days": 29})),
        )
        .await;
    let token = server.github_token(&["--repository", "octo-org/fresh-start"]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 200, "{body}");
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(projects["projects"][0]["normalized_name"], "fresh-start");
}

#[tokio::test(flavor = "multi_thread")]
async fn prohibited_names_cannot_be_created_by_any_path() {
    let server = Server::spawn().await;
    // A pending publisher registered before the name is prohibited…
    server
        .add_pending_github_publisher("later-banned", "octo-org/later")
        .await;
    for name in ["Forbidden_Pkg", "later-banned"] {
        let (status, body) = server
            .api(
                Method::POST,
                "/prohibited-names",
                Some(json!({"name": name, "comment": "test"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, listed) = server.api(Method::GET, "/prohibited-names", None).await;
    let names: Vec<&str> = listed["prohibited_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["forbidden-pkg", "later-banned"]);

    // …cannot create its project: PyPI's project-creation text, as invalid-payload.
    let token = server.github_token(&["--repository", "octo-org/later"]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid-payload");
    let description = body["errors"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with("The name 'later-banned' isn't allowed. See "),
        "{description}"
    );

    // A new pending publisher for a prohibited name: the form's text.
    let (status, body) = server
        .api(
            Method::POST,
            "/publishers",
            Some(
                json!({"provider": "github", "project": "forbidden.pkg", "pending": true,
                        "repository": "octo-org/forbidden", "workflow_filename": "release.yml"}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("This project name isn't allowed"),
        "{body}"
    );

    // An upload that would create the project.
    let api = all_projects_token(&server).await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "forbidden-pkg", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "Forbidden-Pkg", "1.0").send_raw(&server, Some(&basic(&api)));
    assert_eq!(status, 400);
    assert!(
        reason.starts_with("The name 'Forbidden-Pkg' isn't allowed. See "),
        "{reason}"
    );
    assert_store_clean(&server, 0).await;
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(projects["projects"], json!([]), "nothing was created");

    // Off the list, the same upload creates the project.
    let (status, _) = server
        .api(Method::DELETE, "/prohibited-names/forbidden-pkg", None)
        .await;
    assert_eq!(status, 200);
    let (status, reason, _) =
        Upload::of(&d.wheel, "Forbidden-Pkg", "1.0").send_raw(&server, Some(&basic(&api)));
    assert_eq!(status, 200, "{reason}");
    let (status, _) = server
        .api(Method::DELETE, "/prohibited-names/forbidden-pkg", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn prohibited_names_from_the_config_file() {
    let dir = crate::common::tempdir();
    let config = dir.path().join("mock-pypi.toml");
    std::fs::write(&config, "prohibited_names = [\"Reserved.Name\"]\n").unwrap();
    let server = Server::spawn_with(&["--config", config.to_str().unwrap()]).await;
    let (_, listed) = server.api(Method::GET, "/prohibited-names", None).await;
    assert_eq!(listed["prohibited_names"][0]["name"], "reserved-name");
}

#[tokio::test(flavor = "multi_thread")]
async fn project_status_in_the_json_api_and_its_upload_rules() {
    let server = Server::spawn().await;
    let oidc = token_for(&server, "stately").await;
    let api = all_projects_token(&server).await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "stately", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "stately", "1.0").send_raw(&server, Some(&basic(&oidc)));
    assert_eq!(status, 200, "{reason}");
    let detail = format!("{}/simple/stately/", server.http());
    let page = server.get_json(&detail).await;
    assert_eq!(page["meta"]["api-version"], "1.4");
    assert_eq!(page["project-status"], json!({"status": "active"}));

    let set = |status: &str| {
        server.api(
            Method::PATCH,
            "/projects/stately",
            Some(json!({"status": status, "reason": format!("now {status}")})),
        )
    };
    let refused = "The given token isn't allowed to upload to project 'stately'. See ";

    // Archived: listed with its status; nobody uploads.
    assert_eq!(set("archived").await.0, 200);
    let page = server.get_json(&detail).await;
    assert_eq!(
        page["project-status"],
        json!({"status": "archived", "reason": "now archived"})
    );
    assert_eq!(page["files"].as_array().unwrap().len(), 1);
    let html = server.get_text(&detail).await;
    assert!(
        html.contains("<meta name=\"pypi:project-status\" content=\"archived\">"),
        "{html}"
    );
    for token in [&oidc, &api] {
        let (status, reason, _) =
            Upload::of(&d.sdist, "stately", "1.0").send_raw(&server, Some(&basic(token)));
        assert_eq!(status, 403);
        assert!(reason.starts_with(refused), "{reason}");
    }

    // Quarantined: out of the index and the JSON API; its owners (API tokens) may still
    // upload a fix, trusted publishers may not.
    assert_eq!(set("quarantined").await.0, 200);
    let index = server.get_json(&format!("{}/simple/", server.http())).await;
    assert!(!index.to_string().contains("stately"), "{index}");
    let page = server.get_json(&detail).await;
    assert_eq!(page["project-status"]["status"], "quarantined");
    assert_eq!(page["files"], json!([]));
    let json_api = server
        .client()
        .get(format!("{}/pypi/stately/json", server.http()))
        .send()
        .await
        .unwrap();
    assert_eq!(json_api.status(), 404);
    let (status, reason, _) =
        Upload::of(&d.sdist, "stately", "1.0").send_raw(&server, Some(&basic(&oidc)));
    assert_eq!(status, 403);
    assert!(reason.starts_with(refused), "{reason}");
    let (status, reason, _) =
        Upload::of(&d.sdist, "stately", "1.0").send_raw(&server, Some(&basic(&api)));
    assert_eq!(status, 200, "{reason}");

    // Deprecated: uploads go on; back to active, everything shows again.
    assert_eq!(set("deprecated").await.0, 200);
    assert_eq!(
        server.get_json(&detail).await["project-status"]["status"],
        "deprecated"
    );
    assert_eq!(set("active").await.0, 200);
    assert_eq!(
        server.get_json(&detail).await["files"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, body) = set("retired").await;
    assert_eq!(status, 400);
    assert!(
        body.to_string().contains("one of: active, archived"),
        "{body}"
    );
}

async fn discover(server: &Server, query: &str, accept: Option<&str>) -> (u16, String, Value) {
    let mut request = server
        .client()
        .get(format!("{}/.well-known/pytp{query}", server.https()));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, media, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn pep_807_discovery_answers_for_the_upload_path_only() {
    let server = Server::spawn().await;
    let pytp = "application/vnd.pypi.pytp.v1+json";
    let host = server.https();
    for accept in [Some(pytp), None] {
        let (status, media, doc) = discover(&server, "?discover=%2Flegacy%2F", accept).await;
        assert_eq!((status, media.as_str()), (200, pytp), "{doc}");
        assert_eq!(doc["audience-endpoint"], format!("{host}/_/oidc/audience"));
        assert_eq!(
            doc["token-mint-endpoint"],
            format!("{host}/_/oidc/mint-token")
        );
        assert_eq!(
            doc["features"],
            json!(["single-use-token", "multi-use-token"])
        );
        assert_eq!(doc["default-features"], json!(["multi-use-token"]));
    }
    // The endpoints it names work as PyPI's do.
    let audience = server.get_json(&format!("{host}/_/oidc/audience")).await;
    assert_eq!(audience["audience"], "pypi");

    for (query, accept, expected) in [
        ("?discover=%2Fother%2F", Some(pytp), 404),
        ("?discover=%2Flegacy%2F", Some("text/html"), 406),
        ("", Some(pytp), 400),
    ] {
        let (status, media, problem) = discover(&server, query, accept).await;
        assert_eq!(status, expected, "{query} {accept:?}: {problem}");
        assert_eq!(media, "application/problem+json");
        assert_eq!(problem["status"], expected);
        assert!(
            problem["title"].is_string() && problem["detail"].is_string(),
            "{problem}"
        );
    }
}

async fn mint_with(server: &Server, body: Value) -> (u16, String, Value) {
    let response = server
        .client()
        .post(format!("{}/_/oidc/mint-token", server.https()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, media, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn pep_807_features_single_use_tokens_and_problem_documents() {
    let server = Server::spawn().await;
    server
        .add_github_publisher("once", "octo-org/once", "release.yml", "")
        .await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "once", "1.0");
    let oidc = || server.github_token(&["--repository", "octo-org/once"]);

    // single-use-token: the first upload spends it, whatever follows is refused.
    let (status, _, body) = mint_with(
        &server,
        json!({"token": oidc(), "features": ["single-use-token"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let single = body["token"].as_str().unwrap().to_owned();
    let (status, reason, _) =
        Upload::of(&d.wheel, "once", "1.0").send_raw(&server, Some(&basic(&single)));
    assert_eq!(status, 200, "{reason}");
    let (status, reason, _) =
        Upload::of(&d.sdist, "once", "1.0").send_raw(&server, Some(&basic(&single)));
    assert_eq!(status, 403);
    assert!(
        reason.contains("single-use token was already used"),
        "{reason}"
    );

    // multi-use-token (and no features at all, PyPI's way): any number of uploads.
    let (status, _, body) = mint_with(
        &server,
        json!({"token": oidc(), "features": ["multi-use-token"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let multi = body["token"].as_str().unwrap().to_owned();
    let (status, reason, _) =
        Upload::of(&d.sdist, "once", "1.0").send_raw(&server, Some(&basic(&multi)));
    assert_eq!(status, 200, "{reason}");
    let (status, reason, _) =
        Upload::of(&d.sdist, "once", "1.0").send_raw(&server, Some(&basic(&multi)));
    assert_eq!(status, 200, "identical re-upload: {reason}");

    // Errors for PEP 807 clients are RFC 9457 problems that keep PyPI's members.
    let (status, media, problem) =
        mint_with(&server, json!({"token": oidc(), "features": ["teleport"]})).await;
    assert_eq!((status, media.as_str()), (422, "application/problem+json"));
    assert_eq!(problem["errors"][0]["code"], "invalid-features");
    assert_eq!(problem["status"], 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("teleport"),
        "{problem}"
    );
    let (status, media, problem) =
        mint_with(&server, json!({"token": "not-a-jwt", "features": []})).await;
    assert_eq!((status, media.as_str()), (422, "application/problem+json"));
    assert_eq!(problem["message"], "Token request failed");
    assert_eq!(problem["errors"][0]["code"], "invalid-payload");
    // Clients that do not ask get PyPI's shape, unchanged.
    let (status, media, body) = mint_with(&server, json!({"token": "not-a-jwt"})).await;
    assert_eq!((status, media.as_str()), (422, "application/json"));
    assert!(body.get("type").is_none(), "{body}");
}

/// What a real uploader shows for the release-age rule: uv prints PyPI's message.
#[tokio::test(flavor = "multi_thread")]
async fn uv_shows_the_release_age_message() {
    let server = Server::spawn().await;
    let token = all_projects_token(&server).await;
    let home = crate::common::tempdir();
    let d = dists::build(&home.path().join("dist"), "uv-aged", "1.0");
    let (ok, out) = crate::common::uv_token_publish(&server, home.path(), &token, &[], &[&d.wheel]);
    assert!(ok, "{out}");
    let (status, body) = server
        .api(
            Method::PATCH,
            "/projects/uv-aged/releases/1.0",
            Some(json!({"age_days": 20})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (ok, out) = crate::common::uv_token_publish(&server, home.path(), &token, &[], &[&d.sdist]);
    assert!(!ok, "uv should have failed:\n{out}");
    assert!(
        out.contains(TOO_OLD),
        "uv did not show PyPI's message:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_statuses_of_projects_and_releases_from_the_api_and_the_config() {
    let dir = crate::common::tempdir();
    let config = dir.path().join("lifecycle.toml");
    std::fs::write(
        &config,
        "[[projects]]\nname = \"Frozen\"\nstatus = \"archived-noindex\"\nreason = \"moved\"\n\n\
         [[releases]]\nproject = \"cycle\"\nversion = \"2.0\"\nstatus = \"archived\"\n",
    )
    .unwrap();
    let server = Server::spawn_with(&["--config", config.to_str().unwrap()]).await;
    let refused = "The given token isn't allowed to upload to project";
    let home = crate::common::tempdir();
    let api = all_projects_token(&server).await;

    // A configured archived-noindex project: PEP 792 says archived; nobody uploads.
    let frozen = server
        .get_json(&format!("{}/simple/frozen/", server.http()))
        .await;
    assert_eq!(
        frozen["project-status"],
        json!({"status": "archived", "reason": "moved"})
    );
    let html = server
        .get_text(&format!("{}/simple/frozen/", server.http()))
        .await;
    assert!(html.contains("content=\"archived\""), "{html}");
    let d = dists::build(&home.path().join("frozen"), "frozen", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "frozen", "1.0").send_raw(&server, Some(&basic(&api)));
    assert_eq!(status, 403);
    assert!(reason.starts_with(refused), "{reason}");
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(projects["projects"][0]["status"], "archived-noindex");

    // Releases: a configured archived release takes no files; others do.
    let oidc = token_for(&server, "cycle").await;
    let upload = |version: &str, which: usize, token: &str| {
        let d = dists::build(&home.path().join(version), "cycle", version);
        let file = if which == 0 { d.wheel } else { d.sdist };
        Upload::of(&file, "cycle", version).send_raw(&server, Some(&basic(token)))
    };
    let (status, reason, _) = upload("2.0", 0, &oidc);
    assert_eq!(status, 403);
    assert!(reason.starts_with(refused), "{reason}");
    assert_eq!(upload("1.0", 0, &oidc).0, 200);
    assert_eq!(upload("1.1", 0, &oidc).0, 200);

    let server = &server;
    let set = |version: &'static str, status: &'static str| async move {
        let path = format!("/projects/cycle/releases/{version}");
        server
            .api(
                Method::PATCH,
                &path,
                Some(json!({"status": status, "reason": "checking"})),
            )
            .await
    };
    // Archived: no new files, still installable.
    assert_eq!(set("1.0", "archived-noindex").await.0, 200);
    let (status, reason, _) = upload("1.0", 1, &api);
    assert_eq!(status, 403, "{reason}");
    let detail = format!("{}/simple/cycle/", server.http());
    let names = |page: &Value| -> Vec<String> {
        page["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["filename"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&server.get_json(&detail).await).len(), 2);

    // Quarantined: off the page and the JSON API; a trusted publisher may not add to
    // it, its owner's API token may.
    assert_eq!(set("1.1", "quarantined").await.0, 200);
    let page = server.get_json(&detail).await;
    assert_eq!(names(&page), ["cycle-1.0-py3-none-any.whl"]);
    assert_eq!(page["versions"], json!(["1.0"]));
    let json_api = server
        .client()
        .get(format!("{}/pypi/cycle/1.1/json", server.http()))
        .send()
        .await
        .unwrap();
    assert_eq!(json_api.status(), 404);
    let (status, _, _) = upload("1.1", 1, &oidc);
    assert_eq!(status, 403);
    let (status, reason, _) = upload("1.1", 1, &api);
    assert_eq!(status, 200, "{reason}");
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    let cycle = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["normalized_name"] == "cycle")
        .unwrap()
        .clone();
    let statuses: Vec<(&str, &str)> = cycle["release_statuses"]
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
    assert_eq!(
        statuses,
        [
            ("1.0", "archived-noindex"),
            ("1.1", "quarantined"),
            ("2.0", "archived")
        ]
    );

    let dashboard = server
        .get_text(&format!("{}/_mock/dashboard/projects", server.http()))
        .await;
    for words in [
        "Frozen <span class=\"muted\">(archived-noindex)</span>",
        "<td class=\"short\">quarantined</td>",
    ] {
        assert!(dashboard.contains(words), "{words}:\n{dashboard}");
    }

    // Back to active: everything shows again.
    assert_eq!(set("1.1", "active").await.0, 200);
    assert_eq!(names(&server.get_json(&detail).await).len(), 3);

    // Bad input names the values PyPI knows and changes nothing.
    let (status, body) = set("1.1", "retired").await;
    assert_eq!(status, 400);
    assert!(
        body.to_string()
            .contains("one of: active, archived, archived-noindex, quarantined"),
        "{body}"
    );
    assert_eq!(names(&server.get_json(&detail).await).len(), 3);
}

#[test]
fn a_bad_lifecycle_status_in_the_config_stops_the_start() {
    let dir = crate::common::tempdir();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[releases]]\nproject = \"x\"\nversion = \"1.0\"\nstatus = \"retired\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("release x 1.0") && stderr.contains("unknown release status 'retired'"),
        "{stderr}"
    );
}
