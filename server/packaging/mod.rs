//! Python packaging rules PyPI applies to uploads: project names (PEP 503/508),
//! versions (PEP 440), distribution filenames (wheel, PEP 625 sdist) and core metadata.

pub mod filenames;
pub mod metadata;

/// What a distribution file is, as the upload form's `filetype` and the JSON API's
/// `packagetype` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FileType {
    #[serde(rename = "sdist")]
    Sdist,
    #[serde(rename = "bdist_wheel")]
    BdistWheel,
}

impl FileType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sdist => "sdist",
            Self::BdistWheel => "bdist_wheel",
        }
    }

    /// The form's value, if it names a type PyPI accepts.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sdist" => Some(Self::Sdist),
            "bdist_wheel" => Some(Self::BdistWheel),
            _ => None,
        }
    }
}

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for FileType {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text).ok_or_else(|| format!("unknown file type '{text}'"))
    }
}

use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

static PROJECT_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$").expect("static regex")
});
static SEPARATORS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[-_.]+").expect("static regex"));

/// PEP 503 normalized name: lowercase, runs of `-`, `_`, `.` collapsed to `-`.
pub fn normalize_name(name: &str) -> String {
    SEPARATORS
        .replace_all(&name.to_ascii_lowercase(), "-")
        .into_owned()
}

/// Whether `name` is a valid project name (PyPI's `PROJECT_NAME_RE`).
pub fn is_valid_name(name: &str) -> bool {
    PROJECT_NAME.is_match(name)
}

/// A PEP 440 version as PyPI accepts it for uploads: parseable and without a local part.
pub fn parse_version(raw: &str) -> Result<pep440_rs::Version, String> {
    let version = pep440_rs::Version::from_str(raw.trim()).map_err(|e| e.to_string())?;
    if version.is_local() {
        return Err("Can't use PEP 440 local versions.".into());
    }
    Ok(version)
}

/// The canonical text of a version, as used in `versions` lists and URLs.
pub fn canonical_version(version: &pep440_rs::Version) -> String {
    version.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_per_pep503() {
        assert_eq!(normalize_name("Foo.Bar__baz--Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize_name("demo"), "demo");
    }

    #[test]
    fn validates_names() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("my_pkg.2"));
        assert!(!is_valid_name("-lead"));
        assert!(!is_valid_name("trail."));
        assert!(!is_valid_name("sp ace"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn versions_normalize_and_refuse_local() {
        assert_eq!(
            canonical_version(&parse_version("1.0.0-RC1").unwrap()),
            "1.0.0rc1"
        );
        assert!(parse_version("1.0+local").is_err());
        assert!(parse_version("not a version").is_err());
    }
}
