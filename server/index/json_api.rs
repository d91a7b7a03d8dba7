//! `/pypi/<project>/json` and `/pypi/<project>/<version>/json`: the documents, from
//! the stored rows (releases and files in PEP 440 order).

use serde_json::{Map, Value, json};

use super::{file_url, version_key};
use crate::store::{FileRow, ProjectRow, ReleaseRow};
use crate::util::{iso_time, iso_time_naive};

fn file_json(file: &FileRow, origin: &str) -> Value {
    let metadata = match &file.metadata_sha256 {
        Some(sha) => json!({"sha256": sha}),
        None => Value::Bool(false),
    };
    json!({
        "filename": file.filename,
        "packagetype": file.packagetype,
        "python_version": file.python_version,
        "has_sig": false,
        "comment_text": "",
        "md5_digest": file.md5_digest,
        "digests": {"md5": file.md5_digest, "sha256": file.sha256_digest, "blake2b_256": file.blake2_256_digest},
        "core-metadata": metadata,
        "data-dist-info-metadata": metadata,
        "size": file.size,
        "downloads": -1,
        "upload_time": iso_time_naive(file.upload_time),
        "upload_time_iso_8601": iso_time(file.upload_time),
        "url": format!("{origin}{}", file_url("", file)),
        "requires_python": file.requires_python,
        "yanked": false,
        "yanked_reason": Value::Null,
    })
}

fn info(project: &ProjectRow, release: &ReleaseRow, origin: &str) -> Value {
    let meta = release.metadata.0.as_object().cloned().unwrap_or_default();
    let text = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    let list = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    let project_urls: Map<String, Value> = meta
        .get("project_urls")
        .and_then(Value::as_array)
        .map(|urls| {
            urls.iter()
                .filter_map(Value::as_str)
                .filter_map(|u| u.split_once(','))
                .map(|(label, url)| {
                    (
                        label.trim().to_owned(),
                        Value::String(url.trim().to_owned()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let project_url = format!("{origin}/project/{}/", project.normalized_name);
    json!({
        "name": project.name,
        "version": release.version,
        "summary": text("summary"),
        "description": text("description"),
        "description_content_type": text("description_content_type"),
        "keywords": text("keywords"),
        "license": text("license"),
        "license_expression": text("license_expression"),
        "license_files": list("license_files"),
        "classifiers": meta.get("classifiers").cloned().unwrap_or_else(|| json!([])),
        "author": text("author"),
        "author_email": text("author_email"),
        "maintainer": text("maintainer"),
        "maintainer_email": text("maintainer_email"),
        "requires_python": text("requires_python"),
        "platform": Value::Null,
        "requires_dist": list("requires_dist"),
        "provides_extra": list("provides_extra"),
        "project_urls": if project_urls.is_empty() { Value::Null } else { Value::Object(project_urls) },
        "home_page": text("home_page"),
        "download_url": text("download_url"),
        "package_url": project_url,
        "project_url": project_url,
        "release_url": format!("{origin}/project/{}/{}/", project.normalized_name, release.version),
        "docs_url": Value::Null,
        "bugtrack_url": Value::Null,
        "yanked": false,
        "yanked_reason": Value::Null,
        "dynamic": list("dynamic"),
        "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
    })
}

/// PyPI's "latest": the highest non-prerelease, else the highest.
fn latest(releases: &[ReleaseRow]) -> Option<&ReleaseRow> {
    let mut stable = releases.iter().filter(|r| {
        version_key(&r.version)
            .1
            .is_some_and(|v| !v.any_prerelease())
    });
    stable.next_back().or_else(|| releases.last())
}

/// The project document: `None` when the project has no release.
pub fn project_document(
    project: &ProjectRow,
    releases: &[ReleaseRow],
    files: &[FileRow],
    origin: &str,
) -> Option<Value> {
    let latest = latest(releases)?;
    let mut by_version: Map<String, Value> = releases
        .iter()
        .map(|r| (r.version.clone(), json!([])))
        .collect();
    for f in files {
        if let Some(Value::Array(list)) = by_version.get_mut(&f.version) {
            list.push(file_json(f, origin));
        }
    }
    let urls: Vec<Value> = files
        .iter()
        .filter(|f| f.version == latest.version)
        .map(|f| file_json(f, origin))
        .collect();
    Some(json!({
        "info": info(project, latest, origin),
        "last_serial": project.last_serial,
        "releases": by_version,
        "urls": urls,
        "vulnerabilities": [],
        "ownership": {"roles": [], "organization": Value::Null},
    }))
}

/// One release's document (`version` in any PEP 440 spelling): `None` if unknown.
pub fn release_document(
    project: &ProjectRow,
    releases: &[ReleaseRow],
    files: &[FileRow],
    version: &str,
    origin: &str,
) -> Option<Value> {
    let wanted = version_key(version).1;
    let release = releases.iter().find(|r| {
        r.version == version || (wanted.is_some() && version_key(&r.version).1 == wanted)
    })?;
    let urls: Vec<Value> = files
        .iter()
        .filter(|f| f.version == release.version)
        .map(|f| file_json(f, origin))
        .collect();
    Some(json!({
        "info": info(project, release, origin),
        "last_serial": project.last_serial,
        "urls": urls,
        "vulnerabilities": [],
    }))
}

/// The key under which mock-pypi adds what PyPI computes but does not serve.
pub const MOCK_KEY: &str = "mock-pypi";

/// PyPI's provenance status (warehouse#20326) for one release, or every release when
/// `version` is `None`. PyPI has no API for it (only its release-history page shows
/// it), hence a key of mock-pypi's own that no client reads by accident.
pub fn provenance_key(verdicts: &[crate::provenance::Verdict], version: Option<&str>) -> Value {
    let note = "not part of PyPI's JSON API: PyPI shows the provenance status only on its release-history page";
    match version {
        Some(v) => {
            let verdict = verdicts.iter().find(|r| r.version == v);
            json!({
                "provenance_status": verdict.map(|r| r.status),
                "provenance_explanation": verdict.map(|r| r.explanation.clone()),
                "note": note,
            })
        }
        None => {
            let statuses: Map<String, Value> = verdicts
                .iter()
                .map(|r| (r.version.clone(), json!(r.status)))
                .collect();
            json!({"provenance_statuses": statuses, "note": note})
        }
    }
}
