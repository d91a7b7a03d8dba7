//! The dashboard in a real headless browser (Chromium from the Debian packages, driven
//! by selenium: tests/dashboard/browser_check.py), after a refused and an accepted
//! exchange with real uploads; plus the audit API's content for both.

use std::path::Path;

use crate::common::{Server, dists, run};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_in_headless_chromium() {
    assert!(
        Path::new("/usr/bin/chromedriver").exists(),
        "the dashboard test needs Chromium: apt-get install chromium chromium-driver (.ci/run and tests/run.sh as root do it)"
    );
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("dash-demo", "octo-org/dash-demo", "release.yml", "pypi")
        .await;
    // Refused: the job runs in another environment.
    let wrong = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/dash-demo",
        "--environment",
        "staging",
    ]);
    let dist = dists::build(&home.path().join("dist"), "dash-demo", "1.0");
    let (ok, _) = crate::common::uv_publish(&server, home.path(), &wrong, &[&dist.wheel]);
    assert!(!ok);
    // Accepted, with two uploads made by the minted token.
    let right = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/dash-demo",
        "--environment",
        "pypi",
    ]);
    let (ok, out) =
        crate::common::uv_publish(&server, home.path(), &right, &[&dist.wheel, &dist.sdist]);
    assert!(ok, "{out}");
    let (_, log) = server.api(Method::GET, "/exchanges", None).await;
    let exchanges = log["exchanges"].as_array().unwrap();
    let id_of = |outcome: &str| {
        exchanges
            .iter()
            .find(|e| e["outcome"] == outcome)
            .and_then(|e| e["id"].as_i64())
            .unwrap()
            .to_string()
    };
    let (refused, accepted) = (id_of("invalid-publisher"), id_of("accepted"));
    // A fault armed and fired once: the banner on every page, the Faults page's rows.
    let (status, _) = server
        .api(
            Method::POST,
            "/faults",
            Some(serde_json::json!({"route": "simple-index", "status": 503, "style": "cdn"})),
        )
        .await;
    assert_eq!(status, 201);
    let fired = reqwest::get(format!("{}/simple/", server.http()))
        .await
        .unwrap();
    assert_eq!(fired.status(), 503);

    // The screenshots are kept for people to look at (CI keeps target/ as artifacts).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut cmd = crate::common::client("python", home.path());
    cmd.env("SE_AVOID_STATS", "true")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard/browser_check.py"))
        .args([server.http(), server.admin_token(), refused, accepted])
        .arg(&shots);
    let (ok, out) = run(&mut cmd);
    assert!(ok, "{out}\nserver log:\n{}", server.log());
    assert!(out.contains("dashboard OK"), "{out}");
    for page in [
        "overview",
        "exchanges",
        "refused",
        "accepted",
        "publishers",
        "faults",
    ] {
        for width in [1280u32, 390] {
            let png = std::fs::read(shots.join(format!("{page}-{width}.png"))).unwrap();
            assert_eq!(
                &png[..8],
                b"\x89PNG\r\n\x1a\n",
                "{page}-{width} is not a PNG"
            );
            // The IHDR chunk holds the width: the window's, not a default.
            let shot_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
            assert_eq!(shot_width, width, "{page}-{width}.png");
        }
    }
}
