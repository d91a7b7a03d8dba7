//! The report card: every pinned client through every failure scenario that concerns
//! it. Per pair: whether the publish succeeded, how often the client retried the faulted
//! route, whether its output names the cause, how long it took, and what the index
//! holds afterwards. A client behaving badly is a finding, not a failure: the test fails
//! only if a scenario did not do what it promises or the index's state is wrong. The
//! README keeps the card (MOCK_PYPI_UPDATE_README=1 rewrites it; a stale one fails);
//! times vary run to run, so they are in target/tmp/report-card.md only.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::common::publishing::{self, Project, Target, api_token, minted_token};
use crate::common::{HUNG, Server, client, run_for};

/// How long a client may take before it is killed and recorded as hanging.
const LIMIT: Duration = Duration::from_secs(120);

fn run(cmd: &mut Command) -> (bool, String) {
    run_for(cmd, LIMIT)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    TrustedPublishing,
    Token,
}

struct Client {
    name: &'static str,
    mode: Mode,
}

const CLIENTS: [Client; 7] = [
    Client {
        name: "uv",
        mode: Mode::TrustedPublishing,
    },
    Client {
        name: "twine",
        mode: Mode::TrustedPublishing,
    },
    Client {
        name: "publish action",
        mode: Mode::TrustedPublishing,
    },
    Client {
        name: "pdm",
        mode: Mode::TrustedPublishing,
    },
    Client {
        name: "poetry",
        mode: Mode::Token,
    },
    Client {
        name: "hatch",
        mode: Mode::Token,
    },
    Client {
        name: "flit",
        mode: Mode::Token,
    },
];

/// The route a scenario's retries are counted on, and the words that name its cause,
/// as the scenario itself declares them (a scenario without them fails the card).
fn focus(scenario: &Value) -> (String, Vec<String>) {
    let name = &scenario["name"];
    let route = scenario["route"]
        .as_str()
        .unwrap_or_else(|| panic!("scenario {name} names no route"))
        .to_owned();
    let words = scenario["cause_words"]
        .as_array()
        .unwrap_or_else(|| panic!("scenario {name} names no cause words"))
        .iter()
        .map(|w| w.as_str().unwrap_or_default().to_owned())
        .collect();
    (route, words)
}

fn project(home: &Path, name: &str) -> Project {
    publishing::project(home, name, "mock-pypi report card")
}

/// Run one client's publish of `p`; (succeeded, output).
fn publish(
    server: &Server,
    home: &Path,
    who: &Client,
    p: &Project,
    env: &[(String, String)],
    token: &str,
) -> (bool, String) {
    let to = Target::of(server);
    let with_env = |mut cmd: Command| {
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    };
    let mut cmd = match who.name {
        "uv" => {
            let mut cmd = with_env(client("uv", home));
            cmd.args(["publish", "--trusted-publishing", "always", "--publish-url"])
                .arg(&to.upload)
                .args([&p.wheel, &p.sdist]);
            cmd
        }
        "twine" => {
            let mut cmd = with_env(client("twine", home));
            cmd.args(["upload", "--non-interactive", "--disable-progress-bar"])
                .args([&p.wheel, &p.sdist]);
            cmd
        }
        "publish action" => {
            let (ok, out) = run(&mut with_env(to.action_exchange(home)));
            if !ok {
                return (false, out);
            }
            let (ok, more) = run(&mut to.twine_with_token(home, &minted_token(&out), p));
            return (ok, format!("{out}{more}"));
        }
        "pdm" => with_env(to.pdm(home, p, None)),
        "poetry" => to.poetry(home, p, token),
        "hatch" => to.hatch(home, p, token),
        _ => to.flit(home, p, token),
    };
    run(&mut cmd)
}

/// Requests per route since the faults were last cleared.
async fn requests(server: &Server) -> BTreeMap<String, u64> {
    let (_, body) = server.api(Method::GET, "/faults", None).await;
    body["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// How many tokens burn-token has revoked so far.
async fn burned(server: &Server) -> usize {
    let (_, body) = server.api(Method::GET, "/burns?limit=1000", None).await;
    body["burns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["outcome"] == "burned")
        .count()
}

/// The files stored for a project: (filename, size).
async fn stored(server: &Server, project: &str) -> Vec<(String, u64)> {
    crate::common::uploads::files_of(server, project)
        .await
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap_or("").to_owned(),
                f["size"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Prepare a fresh project for one run; the CI job's environment and an API token.
async fn prepare(
    server: &Server,
    home: &Path,
    who: &Client,
    name: &str,
    env_flags: &[String],
) -> (Project, Vec<(String, String)>, String) {
    let p = project(home, name);
    let repo = format!("octo-org/{name}");
    let mut env = Vec::new();
    let mut token = String::new();
    if who.mode == Mode::TrustedPublishing {
        server
            .add_github_publisher(name, &repo, "release.yml", "")
            .await;
        let mut args: Vec<String> = ["env", "github", "--repository", &repo]
            .map(str::to_owned)
            .to_vec();
        if who.name == "twine" {
            args.push("--impersonate".into());
        }
        args.extend(env_flags.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env = server.env_vars(&args);
    } else {
        token = api_token(server, name);
    }
    (p, env, token)
}

struct Cell {
    ok: bool,
    hung: bool,
    retries: Option<u64>,
    names_cause: Option<bool>,
    took: Duration,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_through_every_scenario() {
    let python = crate::common::venv().join("bin/python");
    // A stalled upload is answered 408 after 5 s rather than the default 30.
    let server = Server::launch(
        &["--impersonate-host", "twine", "--upload-idle-timeout", "5"],
        &[("MOCK_PYPI_PYTHON", python.to_str().unwrap())],
    );
    let home = crate::common::tempdir();
    let home = home.path();
    let (_, listing) = server.api(Method::GET, "/scenarios", None).await;
    let scenarios = listing["scenarios"].as_array().unwrap().clone();
    let slug = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    };

    // A clean publish per client first: the requests a client makes when nothing fails,
    // and whether it burns its token afterwards (the audit's burns, not the 202).
    let mut baseline: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    let mut burns_token: BTreeMap<&str, bool> = BTreeMap::new();
    for who in &CLIENTS {
        server.api(Method::DELETE, "/faults", None).await;
        let name = format!("rc-{}-clean", slug(who.name));
        let (p, env, token) = prepare(&server, home, who, &name, &[]).await;
        let before = burned(&server).await;
        let (ok, out) = publish(&server, home, who, &p, &env, &token);
        assert!(ok, "{} cannot publish without faults:\n{out}", who.name);
        burns_token.insert(who.name, burned(&server).await > before);
        baseline.insert(who.name, requests(&server).await);
    }

    let outputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/report-card");
    let _ = std::fs::remove_dir_all(&outputs);
    std::fs::create_dir_all(&outputs).unwrap();
    let mut cells: BTreeMap<(String, &str), Cell> = BTreeMap::new();
    let mut problems = Vec::new();
    for scenario in &scenarios {
        let s_name = scenario["name"].as_str().unwrap().to_owned();
        let applies = scenario["applies_to"].as_str().unwrap();
        let env_flags: Vec<String> = scenario["env_flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        let (route, words) = focus(scenario);
        for who in &CLIENTS {
            if applies == "trusted-publishing" && who.mode != Mode::TrustedPublishing {
                continue;
            }
            server.api(Method::DELETE, "/faults", None).await;
            let name = format!("rc-{}-{}", slug(who.name), s_name);
            let (p, env, token) = prepare(&server, home, who, &name, &env_flags).await;
            let (status, armed) = server
                .api(Method::POST, &format!("/scenarios/{s_name}/arm"), None)
                .await;
            assert_eq!(status, 201, "{armed}");
            let start = Instant::now();
            let (ok, out) = publish(&server, home, who, &p, &env, &token);
            let took = start.elapsed();
            // Each client's own words, for people reading the card (CI keeps target/).
            std::fs::write(
                outputs.join(format!("{s_name}--{}.txt", slug(who.name))),
                &out,
            )
            .unwrap();
            let seen = requests(&server).await;
            let made = seen.get(route.as_str()).copied().unwrap_or(0);
            let usual = baseline[who.name].get(route.as_str()).copied().unwrap_or(0);
            let fired: u64 = server.api(Method::GET, "/faults", None).await.1["faults"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["fired"].as_u64().unwrap_or(0))
                .sum();
            let lower = out.to_lowercase();
            let names_cause =
                (!ok && !words.is_empty()).then(|| words.iter().any(|w| lower.contains(w)));
            let files = stored(&server, &p.name).await;
            // The index's state: never a partial file, never a file twice.
            let local: BTreeMap<String, u64> = std::fs::read_dir(p.dir.join("dist"))
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            (
                                e.file_name().to_string_lossy().into_owned(),
                                e.metadata().unwrap().len(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut names: Vec<&String> = files.iter().map(|(f, _)| f).collect();
            names.dedup();
            if names.len() != files.len() {
                problems.push(format!(
                    "{s_name} / {}: a file is stored twice: {files:?}",
                    who.name
                ));
            }
            for (f, size) in &files {
                if let Some(want) = local.get(f)
                    && want != size
                {
                    problems.push(format!(
                        "{s_name} / {}: {f} stored with {size} bytes, not {want}",
                        who.name
                    ));
                }
            }
            // What each scenario promises, where the client reached the faulted route.
            let faulted = !armed["armed"].as_array().unwrap().is_empty();
            if faulted && made > 0 && fired == 0 && s_name != "jwks-slow" {
                problems.push(format!(
                    "{s_name} / {}: the scenario's faults never fired",
                    who.name
                ));
            }
            if s_name == "stale-simple-page" && !files.is_empty() {
                let page = server
                    .get_json(&format!("{}/simple/{}/", server.http(), p.name))
                    .await;
                if page["files"].as_array().is_some_and(|f| !f.is_empty()) {
                    problems.push(format!(
                        "{s_name} / {}: the new files are on the simple page at once",
                        who.name
                    ));
                }
            }
            cells.insert(
                (s_name.clone(), who.name),
                Cell {
                    ok,
                    hung: out.contains(HUNG),
                    retries: (made > 0).then(|| made.saturating_sub(usual)),
                    names_cause,
                    took,
                },
            );
        }
    }
    server.api(Method::DELETE, "/faults", None).await;
    assert!(
        problems.is_empty(),
        "{}\n\nserver log:\n{}",
        problems.join("\n"),
        server.log()
    );

    // The card: one row per scenario, one column per client.
    let mut readme = String::from("| scenario |");
    let mut full = readme.clone();
    for who in &CLIENTS {
        readme += &format!(" {} |", who.name);
        full += &format!(" {} |", who.name);
    }
    readme += "\n|---|";
    full += "\n|---|";
    for _ in &CLIENTS {
        readme += "---|";
        full += "---|";
    }
    readme.push('\n');
    full.push('\n');
    for scenario in &scenarios {
        let s_name = scenario["name"].as_str().unwrap();
        readme += &format!("| `{s_name}` |");
        full += &format!("| `{s_name}` |");
        for who in &CLIENTS {
            match cells.get(&(s_name.to_owned(), who.name)) {
                None => {
                    readme += " n/a |";
                    full += " n/a |";
                }
                Some(c) => {
                    let mut text = if c.ok {
                        "✅ publishes".to_owned()
                    } else if c.hung {
                        format!("⏳ hangs (killed after {} s)", LIMIT.as_secs())
                    } else {
                        "❌ fails".to_owned()
                    };
                    match c.retries {
                        Some(0) | None => {}
                        Some(1) => text += ", retried once",
                        Some(n) => text += &format!(", retried {n}×"),
                    }
                    match c.names_cause {
                        Some(true) => text += ", says why",
                        Some(false) => text += ", cause not shown",
                        None => {}
                    }
                    readme += &format!(" {text} |");
                    full += &format!(" {text} ({:.1} s) |", c.took.as_secs_f64());
                }
            }
        }
        readme.push('\n');
        full.push('\n');
    }
    // The last row: does the client burn its token after a trusted publish?
    readme += "| *burns its token after publishing* |";
    full += "| *burns its token after publishing* |";
    for who in &CLIENTS {
        let text = match (who.mode, burns_token[who.name]) {
            (Mode::Token, _) => " n/a (API token) |",
            (_, true) => " 🔥 burns |",
            (_, false) => " no |",
        };
        readme += text;
        full += text;
    }
    readme.push('\n');
    full.push('\n');
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report-card.md"), &full).unwrap();
    println!("each client's output: {}", outputs.display());
    println!("{full}");
    publishing::check_readme("report-card", "tests/it/report_card.rs", &readme);
}
