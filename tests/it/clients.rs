//! The client matrix: every common uploader, unmodified and pinned
//! (tests/requirements.txt), publishes a wheel and an sdist in each mode it supports;
//! pip and uv install each result back. The README's matrix is generated from these
//! results (MOCK_PYPI_UPDATE_README=1 rewrites it; otherwise a stale README fails).

use std::path::{Path, PathBuf};
use std::process::Command;

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
struct Project {
    dir: PathBuf,
    name: String,
    wheel: PathBuf,
    sdist: PathBuf,
}

const VERSION: &str = "1.0.0";

fn project(home: &Path, name: &str) -> Project {
    let dir = home.join(name);
    let d = dists::build(&dir.join("dist"), name, VERSION);
    let module = dists::module(name);
    std::fs::create_dir_all(dir.join(&module)).unwrap();
    std::fs::write(
        dir.join(&module).join("__init__.py"),
        format!("\"\"\"A mock-pypi client-matrix package.\"\"\"\nVERSION = {VERSION:?}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"flit_core >=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{VERSION}\"\ndescription = \"mock-pypi client matrix\"\nrequires-python = \">=3.8\"\n"
        ),
    )
    .unwrap();
    Project {
        dir,
        name: name.to_owned(),
        wheel: d.wheel,
        sdist: d.sdist,
    }
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

/// `twine upload` of the project's wheel and sdist with an upload token.
fn twine_with_token(
    home: &Path,
    ca: &str,
    upload: &str,
    token: &str,
    p: &Project,
) -> Result<(), String> {
    let mut cmd = client("twine", home);
    cmd.env("REQUESTS_CA_BUNDLE", ca)
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            upload,
        ])
        .args(["-u", "__token__", "-p", token])
        .args([&p.wheel, &p.sdist]);
    outcome(run(&mut cmd))
}

fn api_token(server: &Server, name: &str) -> String {
    let out = server.cli(&["api-token", "create", "--project", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
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
    let ca = server.ca_file().display().to_string();
    let upload = format!("{}/legacy/", server.https());
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
        twine_with_token(home, &ca, &upload, &token, &p),
    );

    // The publish action's exchange, then twine with the minted token, as the action does.
    let p = project(home, "m-action");
    let env = github_publisher(&server, &p.name).await;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/publish_action_exchange.py");
    let mut cmd = client("python", home);
    envs(&mut cmd, &env);
    cmd.env("INPUT_REPOSITORY_URL", &upload).arg(&script);
    let (ok, out) = run(&mut cmd);
    let published = if ok {
        let minted = out
            .lines()
            .rev()
            .find(|l| l.starts_with("pypi-"))
            .unwrap_or("")
            .to_owned();
        twine_with_token(home, &ca, &upload, &minted, &p)
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
    let mut cmd = client("pdm", home);
    envs(&mut cmd, &env);
    cmd.env("PDM_CHECK_UPDATE", "false")
        .env("PDM_USE_VENV", "false")
        .current_dir(&p.dir)
        .args(["publish", "--no-build", "-r", &upload, "--ca-certs", &ca]);
    add("pdm", "trusted publishing", &p, outcome(run(&mut cmd)));
    let p = project(home, "m-pdm-token");
    let token = api_token(&server, &p.name);
    let mut cmd = client("pdm", home);
    cmd.env("PDM_CHECK_UPDATE", "false")
        .env("PDM_USE_VENV", "false")
        .current_dir(&p.dir)
        .args([
            "publish",
            "--no-build",
            "-r",
            &upload,
            "-u",
            "__token__",
            "-P",
            &token,
            "--ca-certs",
            &ca,
        ]);
    add("pdm", "token", &p, outcome(run(&mut cmd)));

    // poetry
    let p = project(home, "m-poetry-token");
    let token = api_token(&server, &p.name);
    let mut cmd = client("poetry", home);
    cmd.current_dir(&p.dir)
        .env("POETRY_REPOSITORIES_MOCK_URL", &upload)
        .env("POETRY_PYPI_TOKEN_MOCK", &token)
        .env("POETRY_CERTIFICATES_MOCK_CERT", &ca)
        .env("POETRY_CACHE_DIR", home.join("poetry-cache"))
        .args(["publish", "--no-interaction", "-r", "mock"]);
    add("poetry", "token", &p, outcome(run(&mut cmd)));

    // hatch
    let p = project(home, "m-hatch-token");
    let token = api_token(&server, &p.name);
    let mut cmd = client("hatch", home);
    cmd.current_dir(&p.dir)
        .env("HATCH_INDEX_CA_CERT", &ca)
        .args([
            "publish",
            "--no-prompt",
            "-r",
            &upload,
            "-u",
            "__token__",
            "-a",
            &token,
        ])
        .args([&p.wheel, &p.sdist]);
    add("hatch", "token", &p, outcome(run(&mut cmd)));

    // flit builds its own wheel and sdist from the project.
    let p = project(home, "m-flit-token");
    std::fs::remove_dir_all(p.dir.join("dist")).unwrap();
    let token = api_token(&server, &p.name);
    let mut cmd = client("flit", home);
    cmd.current_dir(&p.dir)
        .env("FLIT_INDEX_URL", &upload)
        .env("FLIT_USERNAME", "__token__")
        .env("FLIT_PASSWORD", &token)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .args(["publish"]);
    add("flit", "token", &p, outcome(run(&mut cmd)));

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
    check_readme(&table);
}

fn python_module_version(home: &Path, module: &str) -> String {
    let (_, out) = run(client("python", home).args([
        "-c",
        &format!("import importlib.metadata as m; print(m.version({module:?}))"),
    ]));
    out.trim().to_owned()
}

/// The README's matrix must be this run's table.
fn check_readme(table: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = (
        "<!-- client-matrix:start (generated by tests/it/clients.rs) -->\n",
        "<!-- client-matrix:end -->",
    );
    let a = readme
        .find(start)
        .expect("README has the client-matrix markers")
        + start.len();
    let b = readme[a..].find(end).expect("end marker") + a;
    if &readme[a..b] == table {
        return;
    }
    if std::env::var_os("MOCK_PYPI_UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..a], &readme[b..])).unwrap();
        return;
    }
    panic!(
        "the README's client matrix is stale; run `MOCK_PYPI_UPDATE_README=1 tests/run.sh --test clients`. This run's table:\n{table}"
    );
}
