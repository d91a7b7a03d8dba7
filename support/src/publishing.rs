//! What the client matrix and the report card share: a buildable project with its
//! wheel and sdist, each client's publish command as the tests run it, API tokens, and
//! the README tables they keep.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Server, client, dists};

/// The version every published test project has.
pub const VERSION: &str = "1.0.0";

/// A flit-buildable project directory with a built wheel and sdist in `dist/`.
pub struct Project {
    pub dir: PathBuf,
    pub name: String,
    pub wheel: PathBuf,
    pub sdist: PathBuf,
}

pub fn project(home: &Path, name: &str, description: &str) -> Project {
    let dir = home.join(name);
    let d = dists::build(&dir.join("dist"), name, VERSION);
    let module = dists::module(name);
    std::fs::create_dir_all(dir.join(&module)).unwrap();
    std::fs::write(
        dir.join(&module).join("__init__.py"),
        format!("\"\"\"{description}\"\"\"\nVERSION = {VERSION:?}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"flit_core >=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{VERSION}\"\ndescription = \"{description}\"\nrequires-python = \">=3.8\"\n"
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

/// A long-lived upload token for one project (`mock-pypi api-token create`).
pub fn api_token(server: &Server, name: &str) -> String {
    let out = server.cli(&["api-token", "create", "--project", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Where a client publishes, and the CA it trusts.
pub struct Target {
    pub upload: String,
    pub ca: String,
}

impl Target {
    pub fn of(server: &Server) -> Self {
        Self {
            upload: format!("{}/legacy/", server.https()),
            ca: server.ca_file().display().to_string(),
        }
    }

    /// `twine upload` of the wheel and sdist with an upload token.
    pub fn twine_with_token(&self, home: &Path, token: &str, p: &Project) -> Command {
        let mut cmd = client("twine", home);
        cmd.env("REQUESTS_CA_BUNDLE", &self.ca)
            .args([
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
                "--repository-url",
                &self.upload,
            ])
            .args(["-u", "__token__", "-p", token])
            .args([&p.wheel, &p.sdist]);
        cmd
    }

    /// The publish action's exchange (tests/clients/publish_action_exchange.py); the
    /// minted token is the last line it prints.
    pub fn action_exchange(&self, home: &Path) -> Command {
        let script = Path::new(crate::ROOT).join("tests/clients/publish_action_exchange.py");
        let mut cmd = client("python", home);
        cmd.env("INPUT_REPOSITORY_URL", &self.upload).arg(script);
        cmd
    }

    /// `pdm publish` of what is built, by trusted publishing or with `token`.
    pub fn pdm(&self, home: &Path, p: &Project, token: Option<&str>) -> Command {
        let mut cmd = client("pdm", home);
        cmd.env("PDM_CHECK_UPDATE", "false")
            .env("PDM_USE_VENV", "false")
            .current_dir(&p.dir)
            .args(["publish", "--no-build", "-r", &self.upload]);
        if let Some(token) = token {
            cmd.args(["-u", "__token__", "-P", token]);
        }
        cmd.args(["--ca-certs", &self.ca]);
        cmd
    }

    pub fn poetry(&self, home: &Path, p: &Project, token: &str) -> Command {
        let mut cmd = client("poetry", home);
        cmd.current_dir(&p.dir)
            .env("POETRY_REPOSITORIES_MOCK_URL", &self.upload)
            .env("POETRY_PYPI_TOKEN_MOCK", token)
            .env("POETRY_CERTIFICATES_MOCK_CERT", &self.ca)
            .env("POETRY_CACHE_DIR", home.join("poetry-cache"))
            .args(["publish", "--no-interaction", "-r", "mock"]);
        cmd
    }

    pub fn hatch(&self, home: &Path, p: &Project, token: &str) -> Command {
        let mut cmd = client("hatch", home);
        cmd.current_dir(&p.dir)
            .env("HATCH_INDEX_CA_CERT", &self.ca)
            .args([
                "publish",
                "--no-prompt",
                "-r",
                &self.upload,
                "-u",
                "__token__",
                "-a",
                token,
            ])
            .args([&p.wheel, &p.sdist]);
        cmd
    }

    /// `flit publish`: flit builds its own wheel and sdist (the prebuilt ones go).
    pub fn flit(&self, home: &Path, p: &Project, token: &str) -> Command {
        let _ = std::fs::remove_dir_all(p.dir.join("dist"));
        let mut cmd = client("flit", home);
        cmd.current_dir(&p.dir)
            .env("FLIT_INDEX_URL", &self.upload)
            .env("FLIT_USERNAME", "__token__")
            .env("FLIT_PASSWORD", token)
            .env("REQUESTS_CA_BUNDLE", &self.ca)
            .args(["publish"]);
        cmd
    }
}

/// The token the action's exchange printed last.
pub fn minted_token(output: &str) -> String {
    output
        .lines()
        .rev()
        .find(|l| l.starts_with("pypi-"))
        .unwrap_or("")
        .to_owned()
}

/// The README's table between `<!-- {name}:start (generated by {source}) -->` and
/// `<!-- {name}:end -->` must be `table`; `MOCK_PYPI_UPDATE_README=1` rewrites it.
pub fn check_readme(name: &str, source: &str, table: &str) {
    let path = Path::new(crate::ROOT).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = format!("<!-- {name}:start (generated by {source}) -->\n");
    let end = format!("<!-- {name}:end -->");
    let a = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README has the {name} markers"))
        + start.len();
    let b = readme[a..].find(&end).expect("end marker") + a;
    if &readme[a..b] == table {
        return;
    }
    if std::env::var_os("MOCK_PYPI_UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..a], &readme[b..])).unwrap();
        return;
    }
    panic!(
        "the README's {name} is stale; run `MOCK_PYPI_UPDATE_README=1 cargo test --test it` on {source}. This run's table:\n{table}"
    );
}
