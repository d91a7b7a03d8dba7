//! The client matrix: every common uploader, unmodified and pinned
//! (tests/requirements.txt), publishes a wheel and an sdist in each mode it supports;
//! pip and uv install each result back. The README's matrix is generated from these
//! results (MOCK_PYPI_UPDATE_README=1 rewrites it; otherwise a stale README fails).

use std::path::Path;
use std::process::Command;

use crate::common::publishing::{self, Project, Target, VERSION, api_token, minted_token};
use crate::common::{Server, client, dists, run};
use serde_json::json;

struct Row {
    client: &'static str,
    mode: &'static str,
    project: String,
    published: Result<(), String>,
    pip: bool,
    uv: bool,
}

/// A project directory: pyproject.toml, the package source and prebuilt dists in dist/.
fn project(home: &Path, name: &str) -> Project {
    publishing::project(home, name, "mock-pypi client matrix")
}

fn version_of(program: &str, home: &Path) -> String {
    let (_, out) = run(client(program, home).arg("--version"));
    out.split(|c: char| c.is_whitespace() || c == ',' || c == ')')
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .unwrap_or("?")
        .to_owned()
}

fn outcome((ok, out): (bool, String)) -> Result<(), String> {
    if ok { Ok(()) } else { Err(out) }
}

fn envs(cmd: &mut Command, env: &[(String, String)]) {
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
}

async fn github_publisher(server: &Server, name: &str) -> Vec<(String, String)> {
    server
        .add_github_publisher(name, &format!("octo-org/{name}"), "release.yml", "")
        .await;
    server.env_vars(&["env", "github", "--repository", &format!("octo-org/{name}")])
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_publishes_and_installs() {
    let python = crate::common::venv().join("bin/python");
    let server = Server::launch(
        &["--impersonate-host", "twine"],
        &[
            ("RUST_LOG", "mock_pypi=debug,warn"),
            ("MOCK_PYPI_PYTHON", python.to_str().unwrap()),
        ],
    );
    let home = crate::common::tempdir();
    let home = home.path();
    let to = Target::of(&server);
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |client, mode, project: &Project, published| {
        rows.push(Row {
            client,
            mode,
            project: project.name.clone(),
            published,
            pip: false,
            uv: false,
        })
    };

    // uv
    let p = project(home, "m-uv-github");
    let env = github_publisher(&server, &p.name).await;
    add(
        "uv",
        "trusted publishing (GitHub)",
        &p,
        outcome(crate::common::uv_publish(
            &server,
            home,
            &env,
            &[&p.wheel, &p.sdist],
        )),
    );
    let p = project(home, "m-uv-gitlab");
    let (status, body) = server
        .api(reqwest::Method::POST, "/publishers", Some(json!({"provider": "gitlab", "project": p.name, "project_path": "octo-group/m-uv-gitlab"})))
        .await;
    assert_eq!(status, 201, "{body}");
    let env = server.env_vars(&["env", "gitlab", "--project", "octo-group/m-uv-gitlab"]);
    add(
        "uv",
        "trusted publishing (GitLab)",
        &p,
        outcome(crate::common::uv_publish(
            &server,
            home,
            &env,
            &[&p.wheel, &p.sdist],
        )),
    );
    let p = project(home, "m-uv-token");
    let token = api_token(&server, &p.name);
    let published =
        crate::common::uv_token_publish(&server, home, &token, &[], &[&p.wheel, &p.sdist]);
    add("uv", "token", &p, outcome(published));

    // twine
    let p = project(home, "m-twine-tp");
    let mut env = github_publisher(&server, &p.name).await;
    env.extend(server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/m-twine-tp",
        "--impersonate",
    ]));
    let mut cmd = client("twine", home);
    envs(&mut cmd, &env);
    cmd.args(["upload", "--non-interactive", "--disable-progress-bar"])
        .args([&p.wheel, &p.sdist]);
    add(
        "twine",
        "trusted publishing (host impersonation)",
        &p,
        outcome(run(&mut cmd)),
    );
    let p = project(home, "m-twine-token");
    let token = api_token(&server, &p.name);
    add(
        "twine",
        "token",
        &p,
        outcome(run(&mut to.twine_with_token(home, &token, &p))),
    );

    // The publish action's exchange, then twine with the minted token, as the action does.
    let p = project(home, "m-action");
    let env = github_publisher(&server, &p.name).await;
    let mut cmd = to.action_exchange(home);
    envs(&mut cmd, &env);
    let (ok, out) = run(&mut cmd);
    let published = if ok {
        outcome(run(&mut to.twine_with_token(home, &minted_token(&out), &p)))
    } else {
        Err(out)
    };
    add(
        "gh-action-pypi-publish's exchange (our script) + twine",
        "trusted publishing",
        &p,
        published,
    );

    // pdm
    let p = project(home, "m-pdm-tp");
    let env = github_publisher(&server, &p.name).await;
    let mut cmd = to.pdm(home, &p, None);
    envs(&mut cmd, &env);
    add("pdm", "trusted publishing", &p, outcome(run(&mut cmd)));
    let p = project(home, "m-pdm-token");
    let token = api_token(&server, &p.name);
    add(
        "pdm",
        "token",
        &p,
        outcome(run(&mut to.pdm(home, &p, Some(&token)))),
    );

    // poetry, hatch and flit (which builds its own wheel and sdist) publish with tokens.
    type TokenPublish = fn(&Target, &Path, &Project, &str) -> Command;
    let token_clients: [(&str, TokenPublish); 3] = [
        ("poetry", Target::poetry),
        ("hatch", Target::hatch),
        ("flit", Target::flit),
    ];
    for (name, publish) in token_clients {
        let p = project(home, &format!("m-{name}-token"));
        let token = api_token(&server, &p.name);
        add(
            name,
            "token",
            &p,
            outcome(run(&mut publish(&to, home, &p, &token))),
        );
    }

    // Every published project has its wheel and sdist, and installs with pip and uv.
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    for row in rows.iter_mut().filter(|r| r.published.is_ok()) {
        let files = projects["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["normalized_name"] == row.project.as_str())
            .map_or(0, |p| p["files"].as_array().map_or(0, Vec::len));
        if files != 2 {
            row.published = Err(format!(
                "{files} files stored, expected a wheel and an sdist"
            ));
            continue;
        }
        let module = dists::module(&row.project);
        let requirement = format!("{}=={VERSION}", row.project);
        row.pip =
            crate::common::pip_install_and_import(&server, home, &requirement, &module) == VERSION;
        row.uv =
            crate::common::uv_install_and_import(&server, home, &requirement, &module) == VERSION;
    }

    let mut table = String::from(
        "| client | version | mode | publishes a wheel and an sdist | pip installs it | uv installs it |\n|---|---|---|---|---|---|\n",
    );
    let mark = |ok: bool| if ok { "✅" } else { "❌" };
    for r in &rows {
        let program = r.client.split_whitespace().next().unwrap_or(r.client);
        let version = if program == "gh-action-pypi-publish's" {
            format!("id {}, requests", python_module_version(home, "id"))
        } else {
            version_of(program, home)
        };
        table += &format!(
            "| {} | {version} | {} | {} | {} | {} |\n",
            r.client,
            r.mode,
            mark(r.published.is_ok()),
            mark(r.pip),
            mark(r.uv)
        );
    }
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.published
                .as_ref()
                .err()
                .map(|e| format!("{} / {}:\n{e}", r.client, r.mode))
        })
        .chain(
            rows.iter()
                .filter(|r| r.published.is_ok() && !(r.pip && r.uv))
                .map(|r| format!("{} / {}: install failed", r.client, r.mode)),
        )
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n\nserver log:\n{}",
        failures.join("\n\n"),
        server.log()
    );
    publishing::check_readme("client-matrix", "tests/it/clients.rs", &table);
}

fn python_module_version(home: &Path, module: &str) -> String {
    let (_, out) = run(client("python", home).args([
        "-c",
        &format!("import importlib.metadata as m; print(m.version({module:?}))"),
    ]));
    out.trim().to_owned()
}
