//! `/simple/` and `/simple/<project>/` in PEP 503 HTML or PEP 691 JSON: rendering
//! from the stored rows (the handlers in `http::index` load them and cache pages).

use serde_json::{Value, json};

use super::negotiate::V1_JSON;
use super::{escape, file_url};
use crate::store::{FileRow, ProjectRow};
use crate::util::iso_time;

pub const API_VERSION: &str = "1.4";

/// The project list; its serial is the sum of the projects'.
pub fn index_page(projects: &[ProjectRow], media: &'static str, mount: &str) -> (i64, String) {
    let serial = projects.iter().map(|p| p.last_serial).sum::<i64>();
    if media == V1_JSON {
        let list: Vec<Value> = projects
            .iter()
            .map(|p| json!({"name": p.name, "_last-serial": p.last_serial}))
            .collect();
        let body =
            json!({"meta": {"api-version": API_VERSION, "_last-serial": serial}, "projects": list});
        return (serial, body.to_string());
    }
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
    );
    for p in projects {
        html += &format!(
            "    <a href=\"{mount}/simple/{}/\">{}</a>\n",
            escape(&p.normalized_name),
            escape(&p.name)
        );
    }
    html += "  </body>\n</html>\n";
    (serial, html)
}

/// One project's page: `files` and `versions` in PEP 440 order.
pub fn detail_page(
    project: &ProjectRow,
    files: &[FileRow],
    versions: &[String],
    media: &'static str,
    https_base: &str,
    mount: &str,
) -> String {
    let provenance = |f: &FileRow| {
        f.attestations.0.as_ref().map(|_| {
            provenance_url(
                https_base,
                &project.normalized_name,
                &f.version,
                &f.filename,
            )
        })
    };
    if media == V1_JSON {
        json!({
            "meta": {"api-version": API_VERSION, "_last-serial": project.last_serial},
            "name": project.normalized_name,
            "project-status": project_status(project),
            "versions": versions,
            "files": files.iter().map(|f| file_json(mount, f, provenance(f))).collect::<Vec<_>>(),
        })
        .to_string()
    } else {
        detail_html(
            &project.normalized_name,
            project.status().marker(),
            files,
            &provenance,
            mount,
        )
    }
}

fn metadata_hash(file: &FileRow) -> Value {
    match &file.metadata_sha256 {
        Some(sha) => json!({"sha256": sha}),
        None => Value::Bool(false),
    }
}

/// The Integrity API URL of a file's provenance (absolute, on the HTTPS origin, as
/// PEP 740 asks).
pub fn provenance_url(https_base: &str, project: &str, version: &str, filename: &str) -> String {
    format!("{https_base}/integrity/{project}/{version}/{filename}/provenance")
}

fn file_json(mount: &str, file: &FileRow, provenance: Option<String>) -> Value {
    json!({
        "filename": file.filename,
        "url": file_url(mount, file),
        "hashes": {"sha256": file.sha256_digest},
        "requires-python": file.requires_python,
        "size": file.size,
        "upload-time": iso_time(file.upload_time),
        "yanked": false,
        "data-dist-info-metadata": metadata_hash(file),
        "core-metadata": metadata_hash(file),
        "provenance": provenance,
    })
}

/// PEP 792's marker, with its reason when one was given.
fn project_status(project: &ProjectRow) -> Value {
    match &project.status_reason {
        Some(reason) => json!({"status": project.status().marker(), "reason": reason}),
        None => json!({"status": project.status().marker()}),
    }
}

/// The HTML page is frozen (PEP 833): only its existing status tag follows the project.
fn detail_html(
    name: &str,
    status: &str,
    files: &[FileRow],
    provenance: &dyn Fn(&FileRow) -> Option<String>,
    mount: &str,
) -> String {
    let name = escape(name);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <meta name=\"pypi:project-status\" content=\"{status}\">\n    <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
    );
    for f in files {
        let mut attrs = String::new();
        if let Some(rp) = &f.requires_python {
            attrs += &format!(" data-requires-python=\"{}\"", escape(rp));
        }
        if let Some(sha) = &f.metadata_sha256 {
            attrs += &format!(
                " data-dist-info-metadata=\"sha256={sha}\" data-core-metadata=\"sha256={sha}\""
            );
        }
        if let Some(url) = provenance(f) {
            attrs += &format!(" data-provenance=\"{}\"", escape(&url));
        }
        html += &format!(
            "    <a href=\"{}#sha256={}\"{attrs}>{}</a><br />\n",
            escape(&file_url(mount, f)),
            f.sha256_digest,
            escape(&f.filename)
        );
    }
    html += "  </body>\n</html>\n";
    html
}
