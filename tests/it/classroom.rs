//! A simulated room on loopback (`mock-pypi workshop --seats 30` on 127.0.0.2, the
//! address a LAN room would use): each seat's attendee joins with the real CLI and runs
//! a different subset of the shipped exercises exactly as their tasks say (bash, uv,
//! pip, curl, `mock-pypi attest`, preflight and act), and the API and the projector
//! view (headless Chromium) show exactly that subset per seat. Seat tokens stay in
//! their seat; 30 seats exchanging at once are answered within a second; a seat reset
//! starts one seat again and no other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Server, binary, run, run_for, tempdir, venv};

const SEATS: u32 = 30;
/// The shipped exercises, in the file's order.
const IDS: [&str; 8] = [
    "first-publish",
    "wrong-workflow",
    "wrong-environment",
    "replayed-token",
    "pending-publisher",
    "pipeline",
    "attestation",
    "stale-page",
];

/// Which exercises seat `k` does: a different subset per seat (37 is odd, so `k·37 mod
/// 256` differs for every seat), act's exercise for two seats only (it takes seconds).
fn subset(k: u32) -> u32 {
    let mask = (k * 37) % 256;
    if k == 5 || k == 18 {
        mask | 1 << 5
    } else {
        mask & !(1 << 5)
    }
}

/// Odd seats finish the refusal exercises; even seats stop at the refusal.
fn fixes(k: u32) -> bool {
    k % 2 == 1
}

/// What the room must show for seat `k`, from what it did (the refusal-only tries run
/// last, so nothing later completes them).
fn expected(k: u32) -> Vec<&'static str> {
    let did = |i: u32| subset(k) & (1 << i) != 0;
    let mut out = Vec::new();
    for (i, _) in IDS.iter().enumerate() {
        let i = i as u32;
        let status = match i {
            0 => did(0) || (fixes(k) && (did(1) || did(2))) || did(6),
            1 | 2 if did(i) && !fixes(k) => {
                out.push("refused");
                continue;
            }
            _ => did(i),
        };
        out.push(if status { "done" } else { "pending" });
    }
    out
}

struct Seat {
    k: u32,
    home: PathBuf,
    join: String,
}

impl Seat {
    /// Run `script` as the attendee: bash in the seat's home, after the join line.
    fn sh(&self, script: &str) -> (bool, String) {
        let venv = venv();
        let path = format!(
            "{}:{}:/usr/bin:/bin",
            binary().parent().unwrap().display(),
            venv.join("bin").display()
        );
        let mut cmd = Command::new("/bin/bash");
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("UV_NO_CONFIG", "1")
            .env("UV_CACHE_DIR", self.home.join("uv-cache"))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
            .env("GIT_AUTHOR_NAME", "attendee")
            .env("GIT_AUTHOR_EMAIL", "attendee@example.invalid")
            .env("GIT_COMMITTER_NAME", "attendee")
            .env("GIT_COMMITTER_EMAIL", "attendee@example.invalid")
            .current_dir(&self.home)
            .arg("-c")
            .arg(format!("eval \"$({})\"\n{script}", self.join));
        run_for(&mut cmd, Duration::from_secs(180))
    }
}

/// The commands of a task, as the seat's page shows them (its indented lines).
fn commands(task: &str) -> Vec<String> {
    task.lines()
        .filter_map(|l| l.strip_prefix("    "))
        .map(str::to_owned)
        .collect()
}

/// Do exercise `i` as seat `seat` (with the fix, for a refusal exercise, when `fix`).
fn attempt(seat: &Seat, i: usize, task: &str, fix: bool) {
    let owner = format!("attendee-{:02}", seat.k);
    let lines = commands(task);
    let (ok, out) = match IDS[i] {
        "pipeline" => {
            // Up to preflight as written; preflight refuses the starter, then the fix.
            let setup = lines[..3].join("\n");
            let (ok, out) = seat.sh(&format!("set -e\n{setup}"));
            assert!(
                !ok && out.contains("id-token: write"),
                "seat {}: preflight passed the starter:\n{out}",
                seat.k
            );
            let fixed = format!(
                "set -e\ncd exercises/pipeline\nsed -i 's/^permissions: {{}}/permissions:\\n  id-token: write/; s/environment: staging/environment: pypi/' .github/workflows/release.yml\ngit commit -qam fix\n{}\n{}",
                lines[2], lines[3]
            );
            seat.sh(&fixed)
        }
        "wrong-workflow" | "wrong-environment" => {
            let (ok, out) = seat.sh(&lines.join("\n"));
            let claim = if i == 1 {
                "workflow is 'ci.yml'"
            } else {
                "environment is 'staging'"
            };
            assert!(
                !ok && out.contains(claim),
                "seat {} {}: not refused as taught:\n{out}",
                seat.k,
                IDS[i]
            );
            if !fix {
                return;
            }
            let dist = if i == 1 { "dist-2" } else { "dist-3" };
            seat.sh(&format!(
                "set -e\neval \"$(mock-pypi env github --repository {owner}/demo --workflow release.yml --environment pypi)\"\nuv publish --trusted-publishing always {dist}/*"
            ))
        }
        "replayed-token" => {
            let (ok, out) = seat.sh(&lines.join("\n"));
            assert!(
                out.contains("invalid-reuse-token"),
                "seat {}: no replay refusal:\n{out}",
                seat.k
            );
            (ok, out)
        }
        "stale-page" => {
            // The publish works; pip right after may not see it (the page is stale).
            let publish = lines[..3].join("\n");
            let (ok, out) = seat.sh(&format!("set -e\n{publish}"));
            assert!(ok, "seat {}: stale-page publish:\n{out}", seat.k);
            let (found, pip) = seat.sh(&lines[3]);
            assert!(
                !found && pip.contains("No matching distribution found"),
                "seat {}: pip found a file the stale page hides:\n{pip}",
                seat.k
            );
            (ok, out)
        }
        _ => seat.sh(&format!("set -e\n{}", lines.join("\n"))),
    };
    assert!(ok, "seat {} exercise {}:\n{out}", seat.k, IDS[i]);
}

/// A page's text (a simple page, say).
async fn page(http: &reqwest::Client, url: String) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

fn statuses(report: &Value, k: u32) -> Vec<String> {
    let seat = &report["seats"][(k - 1) as usize];
    IDS.iter()
        .map(|id| seat["exercises"][id].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_room_of_thirty_seats() {
    let server = Server::workshop("127.0.0.2:0", &["--seats", "30"]);
    let base = server.info["http_url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.2:"), "{base}");
    let http = server.client();
    let room = || async { server.api(Method::GET, "/workshop", None).await.1 };
    let before = room().await;
    assert_eq!(
        before["exercises"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        IDS
    );
    assert_eq!(before["seats"].as_array().unwrap().len(), 30);

    // Every attendee joins with the line the instructor's banner prints (fingerprint too).
    let fingerprint = {
        use sha2::Digest;
        let pem = std::fs::read_to_string(server.ca_file()).unwrap();
        hex::encode(sha2::Sha256::digest(pem.trim().as_bytes()))[..16].to_owned()
    };
    // Another CA's fingerprint: refused before any seat is taken (seat 1 joins below).
    let probe = tempdir();
    let out = Command::new(binary())
        .args(["join", &base, "--seat", "1", "--dir"])
        .arg(probe.path().join("seat"))
        .args(["--ca-sha256", "0000000000000000"])
        .env_clear()
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not the instructor's server"),
        "{err}"
    );
    assert!(!probe.path().join("seat").exists());
    let homes = tempdir();
    let seats: Vec<Seat> = (1..=SEATS)
        .map(|k| {
            let home = homes.path().join(format!("seat-{k}"));
            std::fs::create_dir_all(&home).unwrap();
            Seat {
                k,
                home,
                join: format!("mock-pypi join {base} --seat {k} --ca-sha256 {fingerprint}"),
            }
        })
        .collect();
    for seat in &seats {
        let (ok, out) = seat.sh("test -n \"$MOCK_PYPI_DATA_DIR\" && test -n \"$UV_PUBLISH_URL\"");
        assert!(ok, "seat {} could not join:\n{out}", seat.k);
    }
    // A seat is taken once.
    let again = Command::new(binary())
        .args(["join", &base, "--seat", "3", "--dir"])
        .arg(homes.path().join("intruder"))
        .env_clear()
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("seat 3 is taken"),
        "{err}"
    );

    // Each seat's attendee does its subset, the refusal-only tries last; six at a time.
    let tasks: Vec<Vec<String>> = {
        let mut all = Vec::new();
        for k in 1..=SEATS {
            let (status, seat) = server
                .api(Method::GET, &format!("/workshop/seats/{k}"), None)
                .await;
            assert_eq!(status, 200, "{seat}");
            all.push(
                seat["exercises"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["task"].as_str().unwrap().to_owned())
                    .collect(),
            );
        }
        all
    };
    let started = Instant::now();
    std::thread::scope(|scope| {
        for chunk in seats.chunks(SEATS as usize / 6) {
            let tasks = &tasks;
            scope.spawn(move || {
                for seat in chunk {
                    let mine = &tasks[(seat.k - 1) as usize];
                    let order: Vec<usize> = (0..IDS.len())
                        .filter(|&i| subset(seat.k) & (1 << i) != 0)
                        .filter(|&i| fixes(seat.k) || !(i == 1 || i == 2))
                        .chain(
                            [1, 2]
                                .into_iter()
                                .filter(|&i| !fixes(seat.k) && subset(seat.k) & (1 << i) != 0),
                        )
                        .collect();
                    for i in order {
                        attempt(seat, i, &mine[i], fixes(seat.k));
                    }
                }
            });
        }
    });
    eprintln!(
        "30 seats did their exercises in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The API shows exactly each seat's subset.
    let after = room().await;
    for k in 1..=SEATS {
        assert_eq!(
            statuses(&after, k),
            expected(k),
            "seat {k}: {}",
            after["seats"][(k - 1) as usize]
        );
        let seat = &after["seats"][(k - 1) as usize];
        assert_eq!(seat["joined"], true);
        for (i, id) in IDS.iter().enumerate() {
            if expected(k)[i] == "refused" {
                let reason = seat["reasons"][id].as_str().unwrap_or("");
                let claim = if i == 1 { "workflow" } else { "environment" };
                assert!(reason.contains(claim), "seat {k} {id}: reason {reason:?}");
            }
        }
    }
    // Every exercise was done by some seat and left undone by another.
    for (i, id) in IDS.iter().enumerate() {
        let done = (1..=SEATS).filter(|&k| expected(k)[i] == "done").count();
        assert!(done > 0 && done < SEATS as usize, "{id}: {done} seats");
    }

    // The projector view and a seat's page in headless Chromium, at 1280×720 and 390 px.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("workshop-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut cmd = crate::common::client("python", homes.path());
    cmd.env("SE_AVOID_STATS", "true")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard/workshop_check.py"))
        .arg(&base)
        .arg(&shots);
    let (ok, out) = run(&mut cmd);
    assert!(ok, "{out}");
    let shown: Value =
        serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_else(|_| panic!("{out}"));
    for width in ["1280", "390"] {
        for k in 1..=SEATS {
            assert_eq!(
                shown[width][k.to_string()].as_array().map(|a| a
                    .iter()
                    .map(|s| s.as_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()),
                Some(expected(k).iter().map(|s| (*s).to_owned()).collect()),
                "the projector view at {width} px, seat {k}"
            );
        }
        let png = std::fs::read(shots.join(format!("room-{width}.png"))).unwrap();
        assert_eq!(
            u32::from_be_bytes(png[16..20].try_into().unwrap()).to_string(),
            width
        );
    }

    // A seat token stays in its seat, and what it tries changes nothing.
    let token1 =
        std::fs::read_to_string(seats[0].home.join(".mock-pypi-seat/server.json")).unwrap();
    let token1: Value = serde_json::from_str(&token1).unwrap();
    let token1 = token1["request_token"].as_str().unwrap().to_owned();
    assert!(token1.starts_with("mpws-1-"));
    let seat2 = || async { server.api(Method::GET, "/workshop/seats/2", None).await.1 };
    let seat2_before = seat2().await;
    let files2 = page(&http, format!("{base}/simple/attendee-02-demo/")).await;
    let (ok, out) =
        seats[0].sh("mock-pypi token github --repository attendee-02/demo --environment pypi");
    assert!(
        !ok && out.contains("seat 1 mints tokens for attendee-01's repositories only"),
        "{out}"
    );
    let issuer = server.info["issuer_url"].as_str().unwrap();
    let forged = http
        .post(format!("{issuer}/mint"))
        .bearer_auth(&token1)
        .json(&json!({"provider": "github", "audience": "pypi", "identity": {"repository": "attendee-01/demo"}, "claims": {"repository": "attendee-02/demo"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let runner = http
        .get(format!(
            "{issuer}/github/token?repository=attendee-02/demo&audience=pypi"
        ))
        .bearer_auth(&token1)
        .send()
        .await
        .unwrap();
    assert_eq!(runner.status(), 403);
    // Nor through a reusable workflow of another seat's repository.
    let called = http
        .get(format!(
            "{issuer}/github/token?repository=attendee-01/demo&audience=pypi&job_workflow_ref=attendee-02/demo/.github/workflows/release.yml%40refs/heads/main"
        ))
        .bearer_auth(&token1)
        .send()
        .await
        .unwrap();
    assert_eq!(called.status(), 403);
    let control = http
        .post(format!("{issuer}/_control/rotate"))
        .bearer_auth(&token1)
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), 403);
    for (method, path) in [
        (Method::GET, "/_mock/api/workshop/seats/2"),
        (Method::POST, "/_mock/api/workshop/seats/2/reset"),
        (Method::GET, "/_mock/api/workshop"),
    ] {
        let r = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = http
        .get(format!("{base}/_mock/api/publishers"))
        .bearer_auth(&token1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a seat token is no admin token");
    assert_eq!(seat2().await, seat2_before, "seat 1 changed seat 2");
    let files2_after = page(&http, format!("{base}/simple/attendee-02-demo/")).await;
    assert_eq!(files2, files2_after);

    // 30 seats exchanging at once: each answered within a second.
    let mut tokens = Vec::new();
    for seat in &seats {
        let owner = format!("attendee-{:02}", seat.k);
        let (ok, out) = seat.sh(&format!(
            "mock-pypi token github --repository {owner}/demo --environment pypi"
        ));
        assert!(ok, "{out}");
        tokens.push(
            out.lines()
                .find(|l| l.starts_with("ey") && l.split('.').count() == 3)
                .unwrap_or_else(|| panic!("no token in {out}"))
                .to_owned(),
        );
    }
    let mint = format!("{base}/_/oidc/mint-token");
    let answers = futures_util::future::join_all(tokens.iter().map(|t| {
        let (http, mint) = (http.clone(), mint.clone());
        async move {
            let started = Instant::now();
            let r = http
                .post(&mint)
                .json(&json!({"token": t}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            (status, started.elapsed(), body)
        }
    }))
    .await;
    let slowest = answers.iter().map(|(_, d, _)| *d).max().unwrap();
    eprintln!(
        "30 simultaneous exchanges: slowest {} ms",
        slowest.as_millis()
    );
    for (status, took, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert!(*took < Duration::from_secs(1), "an exchange took {took:?}");
    }

    // The instructor resets seat 5 (it did the first publish and the pending publisher):
    // it starts again, and no other seat changes.
    assert_eq!(expected(5)[0], "done");
    assert_eq!(expected(5)[4], "done");
    for project in ["attendee-05-demo", "attendee-05-new"] {
        let page = page(&http, format!("{base}/simple/{project}/")).await;
        assert!(page.contains(".whl"), "{project} before the reset: {page}");
    }
    let others = room().await;
    let (status, _) = server
        .api(Method::POST, "/workshop/seats/5/reset", None)
        .await;
    assert_eq!(status, 200);
    let reset = room().await;
    assert_eq!(statuses(&reset, 5), vec!["pending"; 8]);
    assert_eq!(reset["seats"][4]["joined"], false);
    for k in (1..=SEATS).filter(|&k| k != 5) {
        assert_eq!(
            reset["seats"][(k - 1) as usize],
            others["seats"][(k - 1) as usize],
            "seat {k}"
        );
    }
    // Its projects start empty (the normal publishers' projects exist again, as PyPI
    // needs them to; the pending one's does not).
    let emptied = page(&http, format!("{base}/simple/attendee-05-demo/")).await;
    assert!(
        !emptied.contains(".whl") && !emptied.contains(".tar.gz"),
        "{emptied}"
    );
    let pending = http
        .get(format!("{base}/simple/attendee-05-new/"))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 404);
    // Its old token is dead; the attendee joins again and publishes again.
    let old = std::fs::read_to_string(seats[4].home.join(".mock-pypi-seat/server.json")).unwrap();
    let old: Value = serde_json::from_str(&old).unwrap();
    let r = http
        .get(format!("{base}/_mock/api/workshop/seat"))
        .bearer_auth(old["request_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (ok, out) = seats[4].sh(&format!("set -e\n{}", commands(&tasks[4][0]).join("\n")));
    assert!(ok, "{out}");
    let again = room().await;
    assert_eq!(statuses(&again, 5)[0], "done");
}

#[test]
fn bad_input_is_refused_with_where_and_why() {
    // A malformed exercises file: refused at start with the file, line and field.
    let dir = tempdir();
    let file = dir.path().join("exercises.toml");
    std::fs::write(
        &file,
        "[[exercise]]\nid = \"one\"\ntitle = \"One\"\ntask = \"t\"\nhint = \"h\"\n\n[[exercise.goal]]\nkind = \"accepted\"\nprojct = \"{owner}-x\"\n",
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["workshop", "--listen", "127.0.0.1:0", "--exercises"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_clear()
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{}:9: unknown field `projct`", file.display())),
        "{err}"
    );
    assert!(
        !dir.path().join("data/server.json").exists(),
        "it started anyway"
    );

    // A join with a wrong seat, and one to a server that is not there.
    let server = Server::workshop("127.0.0.1:0", &["--seats", "2"]);
    let base = server.info["http_url"].as_str().unwrap().to_owned();
    let join = |url: &str, seat: &str| {
        let out = Command::new(binary())
            .args(["join", url, "--seat", seat, "--dir"])
            .arg(dir.path().join(format!("seat-{seat}")))
            .args(["--exercises-dir"])
            .arg(dir.path().join("exercises"))
            .env_clear()
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = join(&base, "3");
    assert!(
        !ok && err.contains("there is no seat 3: this room has seats 1 to 2"),
        "{err}"
    );
    let port = crate::common::free_port();
    let (ok, err) = join(&format!("http://127.0.0.1:{port}"), "1");
    assert!(
        !ok && err.contains("is the instructor's server running"),
        "{err}"
    );
    // A plain server has no room.
    let plain = Server::start();
    let (ok, err) = join(&plain.http(), "1");
    assert!(!ok && err.contains("this server runs no workshop"), "{err}");
    // Nothing was written for the failed joins.
    assert!(!dir.path().join("seat-3").exists() && !dir.path().join("seat-1").exists());
}
