//! Core metadata (the `METADATA` / `PKG-INFO` format) and archive inspection.
//! Archive reading is blocking; callers run it in `spawn_blocking`.

use std::io::{Read, Seek};
use std::path::Path;

/// An uploaded archive: a small one's bytes, or a large one's file.
#[derive(Clone, Copy)]
pub enum Archive<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl Archive<'_> {
    fn open(path: &Path) -> Result<std::fs::File, String> {
        std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))
    }
}

/// Largest METADATA file we read out of a wheel.
const MAX_METADATA_BYTES: u64 = 10 * 1024 * 1024;
/// Decompressed sdist bytes allowed per compressed byte (PyPI refuses ratios over 50).
const MAX_SDIST_RATIO: u64 = 50;
const MIN_SDIST_BUDGET: u64 = 64 * 1024 * 1024;

/// Header fields of an email-style metadata file, in order, continuation lines joined.
pub fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

pub fn header<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Read `<dist>-<version>.dist-info/METADATA` out of a wheel after checking that
/// `WHEEL` and `RECORD` are there too. Returns the METADATA bytes.
pub fn inspect_wheel(
    archive: Archive<'_>,
    distribution: &str,
    version: &str,
) -> Result<Vec<u8>, String> {
    match archive {
        Archive::Bytes(b) => wheel_metadata(std::io::Cursor::new(b), distribution, version),
        Archive::File(path) => wheel_metadata(Archive::open(path)?, distribution, version),
    }
}

fn wheel_metadata<R: Read + Seek>(
    reader: R,
    distribution: &str,
    version: &str,
) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|_| "Invalid distribution file. File is not a zipfile".to_owned())?;
    let dist_info = format!("{distribution}-{version}.dist-info");
    for required in ["WHEEL", "RECORD"] {
        let name = format!("{dist_info}/{required}");
        if archive.by_name(&name).is_err() {
            return Err(if required == "WHEEL" {
                format!(
                    "Invalid distribution file. Wheel '{dist_info}' does not contain the required {required} file."
                )
            } else {
                format!("Wheel '{dist_info}' does not contain the required {required} file.")
            });
        }
    }
    let name = format!("{dist_info}/METADATA");
    let entry = archive
        .by_name(&name)
        .map_err(|_| format!("Wheel '{dist_info}' does not contain a METADATA file."))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("Invalid distribution file. {e}"))?;
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err("Invalid distribution file. METADATA is too large.".into());
    }
    Ok(bytes)
}

/// Check an sdist the way PyPI does for `.tar.gz`: a gzip'd tar with exactly one
/// top-level directory holding `PKG-INFO`. Returns the PKG-INFO text.
pub fn inspect_sdist(archive: Archive<'_>) -> Result<String, String> {
    match archive {
        Archive::Bytes(b) => sdist_pkg_info(b, b.len() as u64),
        Archive::File(path) => {
            let file = Archive::open(path)?;
            let compressed = file.metadata().map(|m| m.len()).unwrap_or(0);
            sdist_pkg_info(file, compressed)
        }
    }
}

fn sdist_pkg_info<R: Read>(file: R, compressed: u64) -> Result<String, String> {
    let invalid = |msg: &str| format!("Invalid distribution file. {msg}");
    let budget = (compressed * MAX_SDIST_RATIO).max(MIN_SDIST_BUDGET);
    let decoder = flate2::read::GzDecoder::new(file).take(budget);
    let mut archive = tar::Archive::new(decoder);
    let mut top: Option<String> = None;
    let mut pkg_info = None;
    let entries = archive
        .entries()
        .map_err(|_| invalid("File is not a tarfile"))?;
    for entry in entries {
        let mut entry = entry.map_err(|_| invalid("File is not a tarfile"))?;
        let entry_path = entry
            .path()
            .map_err(|_| invalid("Bad member name"))?
            .into_owned();
        let mut components = entry_path.components();
        let Some(first) = components.next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy().into_owned();
        if first == "." || first == ".." || entry_path.is_absolute() {
            return Err(invalid("Bad member name"));
        }
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(invalid("Too many top-level members in sdist archive"));
            }
            _ => {}
        }
        let rest: Vec<_> = components.collect();
        if rest.len() == 1 && rest[0].as_os_str() == "PKG-INFO" {
            let mut text = String::new();
            (&mut entry)
                .take(MAX_METADATA_BYTES)
                .read_to_string(&mut text)
                .map_err(|_| invalid("PKG-INFO is not UTF-8"))?;
            pkg_info = Some(text);
        }
    }
    let top = top.ok_or_else(|| invalid("The archive is empty"))?;
    pkg_info.ok_or_else(|| invalid(&format!("PKG-INFO not found at {top}/PKG-INFO")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_with_continuations_and_stops_at_body() {
        let text = "Metadata-Version: 2.1\nName: demo\nSummary: a\n  b\nRequires-Dist: x\nRequires-Dist: y\n\nBody: no\n";
        let h = parse_headers(text);
        assert_eq!(header(&h, "name"), Some("demo"));
        assert_eq!(header(&h, "Summary"), Some("a\nb"));
        assert_eq!(h.iter().filter(|(k, _)| k == "Requires-Dist").count(), 2);
        assert_eq!(header(&h, "Body"), None);
    }
}
