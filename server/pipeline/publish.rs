//! Which steps publish, with what, to which index, and whether that command can
//! trust-publish at all: `pypa/gh-action-pypi-publish` and `run:` lines of uv, twine,
//! pdm, hatch, poetry, maturin and flit. No registry's host name is written here: an
//! upload URL is TestPyPI when its host's first label is `test`, another index when it
//! names any other host, and the client's default (PyPI) when there is none.

use serde::Serialize;

use super::workflow::Step;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    PublishAction,
    Uv,
    Twine,
    Pdm,
    Hatch,
    Poetry,
    Maturin,
    Flit,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Self::PublishAction => "pypa/gh-action-pypi-publish",
            Self::Uv => "uv publish",
            Self::Twine => "twine upload",
            Self::Pdm => "pdm publish",
            Self::Hatch => "hatch publish",
            Self::Poetry => "poetry publish",
            Self::Maturin => "maturin upload",
            Self::Flit => "flit publish",
        }
    }

    /// Whether the tool can publish by trusted publishing at all (hatch, poetry and
    /// flit only take passwords or tokens).
    pub fn trusts(self) -> bool {
        !matches!(self, Self::Hatch | Self::Poetry | Self::Flit)
    }
}

/// Which index a publishing step targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Index {
    Pypi,
    Testpypi,
    /// An upload URL of another index (or of mock-pypi).
    Other(String),
}

impl Index {
    /// The audience the index's trusted publishing asks tokens for.
    pub fn audience(&self) -> &str {
        match self {
            Self::Testpypi => "testpypi",
            Self::Pypi | Self::Other(_) => "pypi",
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::Pypi => "pypi".into(),
            Self::Testpypi => "testpypi".into(),
            Self::Other(url) => url.clone(),
        }
    }

    fn of_url(url: &str) -> Self {
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        if host.split('.').next() == Some("test") {
            Self::Testpypi
        } else {
            Self::Other(url.to_owned())
        }
    }

    fn of_name(name: &str) -> Self {
        match name {
            "testpypi" | "test" => Self::Testpypi,
            "pypi" | "main" => Self::Pypi,
            other if other.contains("://") => Self::of_url(other),
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A step that publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Publish {
    pub tool: Tool,
    pub index: Index,
    pub line: usize,
    /// A password or token is given: trusted publishing is off for this step.
    pub credential: Option<String>,
    /// `--trusted-publishing never` (uv).
    pub trusted_off: bool,
    /// The action's `attestations` input (on by default).
    pub attestations: bool,
}

/// The publishing steps of a job, in order.
pub fn steps(steps: &[Step]) -> Vec<Publish> {
    let mut out = Vec::new();
    for step in steps {
        if let Some(uses) = &step.uses
            && uses.split('@').next() == Some("pypa/gh-action-pypi-publish")
        {
            out.push(action(step));
        }
        if let Some(run) = &step.run {
            out.extend(commands(step, run));
        }
    }
    out
}

fn action(step: &Step) -> Publish {
    let input = |k: &str| step.input(k).map(|(_, v, l)| (v.clone(), *l));
    let index = input("repository-url").map_or(Index::Pypi, |(url, _)| Index::of_url(&url));
    let credential = input("password")
        .filter(|(v, _)| !v.trim().is_empty())
        .map(|(v, l)| format!("password: {v} (line {l})"));
    Publish {
        tool: Tool::PublishAction,
        index,
        line: step.line,
        credential,
        trusted_off: false,
        attestations: input("attestations").is_none_or(|(v, _)| v.trim() != "false"),
    }
}

/// The words of a shell line, split on white space and `&&`/`;`/`|` (no full shell:
/// what matters is which command runs with which flags).
fn commands(step: &Step, run: &str) -> Vec<Publish> {
    let mut out = Vec::new();
    for (n, line) in run.lines().enumerate() {
        for part in line.split(['&', ';', '|']) {
            let words: Vec<&str> = part.split_whitespace().collect();
            if let Some(p) = command(step, &words, step.run_line + n) {
                out.push(p);
            }
        }
    }
    out
}

/// The variables through which each tool takes a password or token.
const PASSWORD_VARIABLES: &[&str] = &[
    "TWINE_PASSWORD",
    "UV_PUBLISH_TOKEN",
    "UV_PUBLISH_PASSWORD",
    "PDM_PUBLISH_PASSWORD",
    "MATURIN_PYPI_TOKEN",
    "MATURIN_PASSWORD",
    "POETRY_PYPI_TOKEN_PYPI",
    "FLIT_PASSWORD",
    "HATCH_INDEX_AUTH",
];

/// A flag's value as the shell would pass it (`--f v` or `--f=v`; quotes removed,
/// `$VAR` kept as written).
fn flag_value(words: &[&str], names: &[&str]) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        names.iter().find_map(|n| {
            w.strip_prefix(&format!("{n}="))
                .map(str::to_owned)
                .or_else(|| {
                    (w == n)
                        .then(|| words.get(i + 1).map(|v| (*v).to_owned()))
                        .flatten()
                })
                .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_owned())
        })
    })
}

/// The index a command's flags name (the tool's default, PyPI, when none).
fn index_of(tool: Tool, flag: &dyn Fn(&[&str]) -> Option<String>) -> Index {
    let url_or_name = |urls: &[&str], names: &[&str]| {
        flag(urls)
            .map(|u| Index::of_url(&u))
            .or_else(|| flag(names).map(|n| Index::of_name(&n)))
    };
    match tool {
        Tool::Uv => url_or_name(&["--publish-url"], &["--index"]),
        Tool::Twine | Tool::Maturin => url_or_name(&["--repository-url"], &["--repository", "-r"]),
        Tool::Pdm | Tool::Poetry | Tool::Hatch | Tool::Flit => {
            flag(&["--repository", "-r", "--repo"]).map(|n| Index::of_name(&n))
        }
        Tool::PublishAction => None,
    }
    .unwrap_or(Index::Pypi)
}

fn command(step: &Step, words: &[&str], line: usize) -> Option<Publish> {
    // `uvx twine upload`, `python -m twine upload`, `pipx run twine upload`: the tool
    // is the first known word.
    let at = words.iter().position(|w| {
        matches!(
            *w,
            "uv" | "twine" | "pdm" | "hatch" | "poetry" | "maturin" | "flit"
        )
    })?;
    let (tool, rest) = match (words[at], words.get(at + 1).copied()) {
        ("uv", Some("publish")) => (Tool::Uv, &words[at + 2..]),
        ("twine", Some("upload")) => (Tool::Twine, &words[at + 2..]),
        ("pdm", Some("publish")) => (Tool::Pdm, &words[at + 2..]),
        ("hatch", Some("publish")) => (Tool::Hatch, &words[at + 2..]),
        ("poetry", Some("publish")) => (Tool::Poetry, &words[at + 2..]),
        ("maturin", Some("upload" | "publish")) => (Tool::Maturin, &words[at + 2..]),
        ("flit", Some("publish")) => (Tool::Flit, &words[at + 2..]),
        _ => return None,
    };
    let flag = |names: &[&str]| flag_value(rest, names);
    let index = index_of(tool, &flag);
    let password_flags: &[&str] = match tool {
        Tool::Uv => &["--token", "-t", "--password", "-p"],
        Tool::Pdm => &["--password", "-P"],
        Tool::Poetry => &["--password", "-p"],
        _ => &["--password", "-p"],
    };
    let env_password = step
        .env
        .iter()
        .find(|e| PASSWORD_VARIABLES.contains(&e.as_str()));
    let credential = flag(password_flags)
        .map(|v| format!("a password or token on the command line ({v})"))
        .or_else(|| env_password.map(|e| format!("{e} in the step's env")));
    let trusted_off =
        tool == Tool::Uv && flag(&["--trusted-publishing"]).as_deref() == Some("never");
    Some(Publish {
        tool,
        index,
        line,
        credential,
        trusted_off,
        attestations: false,
    })
}
