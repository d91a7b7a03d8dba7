//! Distribution filename rules, as PyPI enforces them on upload.

use std::sync::LazyLock;

use regex::Regex;

/// The parts of a wheel filename we check.
#[derive(Debug, PartialEq, Eq)]
pub struct WheelName {
    pub distribution: String,
    pub version: String,
    pub python_tags: Vec<String>,
    pub platform_tags: Vec<String>,
}

static PLATFORM_OK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(any|win32|win_amd64|win_arm64|win_ia64|linux_armv6l|linux_armv7l",
        r"|manylinux1_(x86_64|i686)|manylinux2010_(x86_64|i686)",
        r"|manylinux2014_(x86_64|i686|aarch64|armv7l|ppc64|ppc64le|s390x)",
        r"|manylinux_\d+_\d+_[a-z0-9_]+|musllinux_\d+_\d+_[a-z0-9_]+",
        r"|macosx_10_\d+_[a-z0-9_]+|macosx_(1[1-5]|26)_0_[a-z0-9_]+",
        r"|ios_\d+_\d+_[a-z0-9_]+|android_\d+_[a-z0-9_]+|pyemscripten_\d+_\d+_wasm32)$"
    ))
    .expect("static regex")
});

/// Parse `{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
pub fn parse_wheel(filename: &str) -> Result<WheelName, String> {
    let stem = filename.strip_suffix(".whl").ok_or_else(|| {
        format!("Invalid wheel filename (extension must be '.whl'): '{filename}'")
    })?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 5 && parts.len() != 6 {
        return Err(format!(
            "Invalid wheel filename (wrong number of parts): '{filename}'"
        ));
    }
    if parts.len() == 6 && !parts[2].starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "Invalid build number: {} in '{filename}'",
            parts[2]
        ));
    }
    let distribution = parts[0];
    if distribution.is_empty()
        || !distribution
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(format!("Invalid project name: '{filename}'"));
    }
    let n = parts.len();
    Ok(WheelName {
        distribution: distribution.to_owned(),
        version: parts[1].to_owned(),
        python_tags: parts[n - 3].split('.').map(str::to_owned).collect(),
        platform_tags: parts[n - 1].split('.').map(str::to_owned).collect(),
    })
}

/// The first platform tag PyPI would refuse, if any (e.g. plain `linux_x86_64`).
pub fn unsupported_platform(wheel: &WheelName) -> Option<&str> {
    wheel
        .platform_tags
        .iter()
        .map(String::as_str)
        .find(|tag| !PLATFORM_OK.is_match(tag))
}

/// PEP 625: the one sdist filename PyPI accepts for a project and version.
pub fn expected_sdist_name(normalized_project: &str, version: &str) -> String {
    format!(
        "{}-{}.tar.gz",
        normalized_project.replace('-', "_"),
        version
    )
}

/// Split an sdist filename into (name, version), like `packaging.utils.parse_sdist_filename`.
pub fn parse_sdist(filename: &str) -> Option<(&str, &str)> {
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    let (name, version) = stem.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// Control characters and path separators are never allowed.
pub fn has_bad_characters(filename: &str) -> bool {
    filename
        .chars()
        .any(|c| (c as u32) < 32 || c as u32 == 127 || c == '/' || c == '\\')
}

/// Whether the extension suits the declared `filetype`.
pub fn extension_matches(filename: &str, filetype: super::FileType) -> bool {
    let lower = filename.to_ascii_lowercase();
    match filetype {
        super::FileType::Sdist => lower.ends_with(".tar.gz") || lower.ends_with(".zip"),
        super::FileType::BdistWheel => lower.ends_with(".whl"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wheels() {
        let w = parse_wheel("demo_pkg-1.0-py3-none-any.whl").unwrap();
        assert_eq!(w.distribution, "demo_pkg");
        assert_eq!(w.version, "1.0");
        assert_eq!(unsupported_platform(&w), None);
        let w = parse_wheel("x-1.0-1-cp311-cp311-linux_x86_64.whl").unwrap();
        assert_eq!(unsupported_platform(&w), Some("linux_x86_64"));
        assert!(parse_wheel("x-1.0.whl").is_err());
        assert!(parse_wheel("x-1.0-a-py3-none-any.whl").is_err());
        let w =
            parse_wheel("x-1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        assert_eq!(unsupported_platform(&w), None);
    }

    #[test]
    fn sdist_names_follow_pep625() {
        assert_eq!(expected_sdist_name("my-pkg", "1.0"), "my_pkg-1.0.tar.gz");
        assert_eq!(parse_sdist("my_pkg-1.0.tar.gz"), Some(("my_pkg", "1.0")));
        assert_eq!(parse_sdist("nodash.tar.gz"), None);
    }

    #[test]
    fn refuses_bad_characters_and_extensions() {
        assert!(has_bad_characters("a/b.whl"));
        assert!(has_bad_characters("a\u{7}.whl"));
        assert!(!has_bad_characters("a-1.0.tar.gz"));
        assert!(extension_matches(
            "A-1.0.TAR.GZ",
            crate::packaging::FileType::Sdist
        ));
        assert!(!extension_matches(
            "a-1.0.whl",
            crate::packaging::FileType::Sdist
        ));
    }
}
