//! Upload checks, in Warehouse's order and with Warehouse's messages.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::form::Form;
use crate::error::UploadError;
use crate::packaging::FileType;
use crate::packaging::{self, filenames, metadata};
use crate::store::{Digests, WheelMetadata};

const SPEC: &str =
    "See https://packaging.python.org/specifications/core-metadata for more information.";
const METADATA_VERSIONS: [&str; 8] = ["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"];

/// The fields every upload must carry, validated.
#[derive(Debug, Clone)]
pub struct FormMetadata {
    pub name: String,
    /// PEP 440 normalized.
    pub version: String,
    pub filetype: FileType,
    pub pyversion: String,
}

/// Wheel filename parts needed to find `.dist-info` inside the archive.
#[derive(Debug, Clone)]
pub struct WheelParts {
    pub distribution: String,
    pub version: String,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

pub fn form_metadata(form: &Form) -> Result<FormMetadata, UploadError> {
    let bad = |m: String| UploadError::bad_request(m);
    if form.get("protocol_version").unwrap_or("1") != "1" {
        return Err(bad("Unknown protocol version.".into()));
    }
    let name = form.get("name").ok_or_else(|| {
        bad(format!(
            "'' is an invalid value for Name. Error: This field is required. {SPEC}"
        ))
    })?;
    if !packaging::is_valid_name(name) {
        return Err(bad(format!(
            "'{name}' is an invalid value for Name. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'. {SPEC}"
        )));
    }
    let raw_version = form.get("version").ok_or_else(|| {
        bad(format!(
            "'' is an invalid value for Version. Error: This field is required. {SPEC}"
        ))
    })?;
    let raw_filetype = form.get("filetype").unwrap_or("");
    let Some(filetype) = FileType::parse(raw_filetype) else {
        return Err(bad(format!(
            "Invalid value for filetype. Error: Use a known file type (sdist or bdist_wheel), not '{raw_filetype}'."
        )));
    };
    let pyversion = match (filetype, form.get("pyversion")) {
        (FileType::Sdist, None | Some("source")) => "source".to_owned(),
        (FileType::Sdist, Some(other)) => return Err(bad(format!("Invalid value for pyversion. Error: Use 'source' as Python version for an sdist, not '{other}'."))),
        (_, None) => return Err(bad("Invalid value for pyversion. Error: Python version is required for binary distribution uploads.".into())),
        (_, Some(v)) => v.to_owned(),
    };
    for field in ["sha256_digest", "blake2_256_digest"] {
        if let Some(d) = form.get(field)
            && !is_hex64(d)
        {
            return Err(bad(format!(
                "Invalid value for {field}. Error: Use a valid, hex-encoded, {} digest.",
                field.trim_end_matches("_digest")
            )));
        }
    }
    if ["md5_digest", "sha256_digest", "blake2_256_digest"]
        .iter()
        .all(|f| form.get(f).is_none())
    {
        return Err(bad("Error: Include at least one message digest.".into()));
    }
    match form.get("metadata_version") {
        Some(v) if METADATA_VERSIONS.contains(&v) => {}
        Some(v) => {
            return Err(bad(format!(
                "'{v}' is an invalid value for Metadata-Version. Error: Use a known metadata version. {SPEC}"
            )));
        }
        None => {
            return Err(bad(format!(
                "'' is an invalid value for Metadata-Version. Error: This field is required. {SPEC}"
            )));
        }
    }
    let version = packaging::parse_version(raw_version).map_err(|e| {
        bad(format!(
            "'{raw_version}' is an invalid value for Version. Error: {e} {SPEC}"
        ))
    })?;
    if let Some(summary) = form.get("summary")
        && (summary.chars().count() > 512 || summary.contains('\n'))
    {
        return Err(bad(format!(
            "'{summary}' is an invalid value for Summary. Error: Use 512 characters or less on a single line. {SPEC}"
        )));
    }
    Ok(FormMetadata {
        name: name.to_owned(),
        version: packaging::canonical_version(&version),
        filetype,
        pyversion,
    })
}

impl FormMetadata {
    /// Release metadata as PyPI keeps it: from the form fields, not the artifact.
    pub fn release_json(&self, form: &Form) -> Value {
        let mut info = Map::new();
        for key in [
            "metadata_version",
            "summary",
            "description",
            "description_content_type",
            "author",
            "author_email",
            "maintainer",
            "maintainer_email",
            "license",
            "license_expression",
            "keywords",
            "home_page",
            "download_url",
            "requires_python",
        ] {
            if let Some(v) = form.get(key) {
                info.insert(key.into(), v.into());
            }
        }
        let lists = [
            ("classifiers", vec!["classifiers"]),
            ("requires_dist", vec!["requires_dist"]),
            ("provides_extra", vec!["provides_extra", "provides_extras"]),
            ("project_urls", vec!["project_urls"]),
            ("platform", vec!["platform"]),
            ("dynamic", vec!["dynamic"]),
            ("license_files", vec!["license_file", "license_files"]),
        ];
        for (key, sources) in lists {
            let values: Vec<&str> = sources.iter().flat_map(|s| form.get_all(s)).collect();
            if !values.is_empty() {
                info.insert(key.into(), json!(values));
            }
        }
        info.insert("name".into(), self.name.clone().into());
        info.insert("version".into(), self.version.clone().into());
        Value::Object(info)
    }
}

pub fn filename(
    filename: &str,
    filetype: FileType,
    content_type: Option<&str>,
) -> Result<(), UploadError> {
    if filename.is_empty() || filenames::has_bad_characters(filename) {
        return Err(UploadError::bad_request(format!(
            "Cannot upload a file with '/' or '\\' or control characters in the name: '{}'.",
            filename.escape_debug()
        )));
    }
    if !filenames::extension_matches(filename, filetype) {
        return Err(UploadError::bad_request(format!(
            "Invalid file extension: Use .tar.gz or .whl for {filetype} uploads. See the packaging guides for more information."
        )));
    }
    // A part without a type is fine (Warehouse's form parser defaults it); images never are.
    match content_type {
        Some(ct) if ct.starts_with("image/") => {
            Err(UploadError::bad_request("Invalid distribution file."))
        }
        _ => Ok(()),
    }
}

pub fn digests(form: &Form, actual: &Digests) -> Result<(), UploadError> {
    let pairs = [
        ("md5_digest", &actual.md5),
        ("sha256_digest", &actual.sha256),
        ("blake2_256_digest", &actual.blake2_256),
    ];
    for (field, computed) in pairs {
        if let Some(sent) = form.get(field)
            && !sent.eq_ignore_ascii_case(computed)
        {
            return Err(UploadError::bad_request(format!(
                "The digest supplied does not match a digest calculated from the uploaded file. ({field}: sent {sent}, computed {computed})"
            )));
        }
    }
    Ok(())
}

/// Filename rules for wheels and sdists; returns the wheel's parts for the archive check.
pub fn distribution(
    filename: &str,
    meta: &FormMetadata,
    normalized: &str,
) -> Result<Option<WheelParts>, UploadError> {
    let bad = |m: String| UploadError::bad_request(m);
    let underscored = normalized.replace('-', "_");
    if meta.filetype == FileType::Sdist {
        let Some((name, _)) = filenames::parse_sdist(filename) else {
            return Err(bad(format!(
                "Invalid source distribution filename: {filename}"
            )));
        };
        if packaging::normalize_name(name) != normalized {
            return Err(bad(format!(
                "Start filename for '{}' with '{underscored}'.",
                meta.name
            )));
        }
        let expected = filenames::expected_sdist_name(normalized, &meta.version);
        if filename != expected {
            return Err(bad(format!(
                "Filename '{filename}' is invalid, should be '{expected}'."
            )));
        }
        return Ok(None);
    }
    let wheel = filenames::parse_wheel(filename).map_err(bad)?;
    if let Some(tag) = filenames::unsupported_platform(&wheel) {
        return Err(bad(format!(
            "Binary wheel '{filename}' has an unsupported platform tag '{tag}'."
        )));
    }
    if wheel.distribution != underscored {
        return Err(bad(format!(
            "Filename '{filename}' should contain the normalized project name '{underscored}', not '{}'.",
            wheel.distribution
        )));
    }
    let same_version = packaging::parse_version(&wheel.version)
        .map(|v| packaging::canonical_version(&v))
        .ok();
    if same_version.as_deref() != Some(meta.version.as_str()) {
        return Err(bad(format!(
            "Version in filename should be '{}' not '{}'.",
            meta.version, wheel.version
        )));
    }
    Ok(Some(WheelParts {
        distribution: wheel.distribution,
        version: wheel.version,
    }))
}

/// Open the archive (blocking). Wheels yield their METADATA bytes.
pub fn archive(
    path: metadata::Archive<'_>,
    filetype: FileType,
    wheel: Option<&WheelParts>,
) -> Result<Option<Vec<u8>>, UploadError> {
    match (filetype, wheel) {
        (FileType::BdistWheel, Some(w)) => {
            metadata::inspect_wheel(path, &w.distribution, &w.version)
                .map(Some)
                .map_err(UploadError::bad_request)
        }
        _ => metadata::inspect_sdist(path)
            .map(|_| None)
            .map_err(UploadError::bad_request),
    }
}

/// The wheel's own METADATA must name the same project and version, or installers
/// using PEP 658 metadata would see something else than the filename promises.
pub fn wheel_metadata_matches(
    bytes: &[u8],
    normalized: &str,
    version: &str,
) -> Result<(), UploadError> {
    let text = String::from_utf8_lossy(bytes);
    let headers = metadata::parse_headers(&text);
    let name = metadata::header(&headers, "Name").unwrap_or("");
    if packaging::normalize_name(name) != normalized {
        return Err(UploadError::bad_request(format!(
            "Invalid distribution file. The wheel's METADATA names project '{name}', not '{normalized}'."
        )));
    }
    let meta_version = metadata::header(&headers, "Version").unwrap_or("");
    let same = packaging::parse_version(meta_version)
        .map(|v| packaging::canonical_version(&v))
        .ok();
    if same.as_deref() != Some(version) {
        return Err(UploadError::bad_request(format!(
            "Invalid distribution file. The wheel's METADATA has version '{meta_version}', not '{version}'."
        )));
    }
    Ok(())
}

pub fn wheel_metadata_record(bytes: Vec<u8>) -> WheelMetadata {
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let blake2_256 = crate::store::digests::blake2_256_hex(&bytes);
    WheelMetadata {
        bytes,
        sha256,
        blake2_256,
    }
}
