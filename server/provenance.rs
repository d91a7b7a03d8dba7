//! PyPI's provenance status of a release (warehouse#20326, #20420): whether its files
//! carry PEP 740 attestations, from one publisher, as the release before it did. Pure:
//! the store gives each release's files' provenance documents, in upload order.
//!
//! PyPI shows the status only on its release-history page and has no API for it; the
//! rules below are its six states, applied in this order (the order is ours, derived
//! from what each state means): a release with no attested file is `lost-provenance`
//! when the release before it had some, else `no-provenance`; attestations from more
//! than one publisher source or workflow are `inconsistent-provenance`; some files
//! without are `partial-provenance`; a source or workflow added or removed compared
//! with the previous release's (when it had provenance) is `changed-provenance`;
//! otherwise `full-provenance`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

/// Who signed: the attestation bundle's publisher, as the Integrity API names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Source {
    /// `GitHub`, `GitLab`, `Google`.
    pub kind: String,
    /// The repository (GitHub, GitLab) or service account (Google).
    pub source: String,
    /// The workflow file (GitHub) or CI file (GitLab); empty for Google.
    pub workflow: String,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.workflow.is_empty() {
            write!(f, "{} {}", self.kind, self.source)
        } else {
            write!(f, "{} {} ({})", self.kind, self.source, self.workflow)
        }
    }
}

/// The publishers of one provenance document (the Integrity API's JSON).
pub fn sources(provenance: &str) -> BTreeSet<Source> {
    let Ok(doc) = serde_json::from_str::<Value>(provenance) else {
        return BTreeSet::new();
    };
    let text = |p: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| p.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_owned()
    };
    doc["attestation_bundles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| &b["publisher"])
        .map(|p| Source {
            kind: text(p, &["kind"]),
            source: text(p, &["repository", "email"]),
            workflow: text(p, &["workflow", "workflow_filepath"]),
        })
        .collect()
}

/// One release: each file's publishers (empty: the file has no provenance).
pub struct ReleaseFiles {
    pub version: String,
    pub files: Vec<BTreeSet<Source>>,
}

impl ReleaseFiles {
    fn sources(&self) -> BTreeSet<Source> {
        self.files.iter().flatten().cloned().collect()
    }

    fn attested(&self) -> usize {
        self.files.iter().filter(|f| !f.is_empty()).count()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    No,
    Full,
    Partial,
    Inconsistent,
    Lost,
    Changed,
}

impl Status {
    /// PyPI's names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no-provenance",
            Self::Full => "full-provenance",
            Self::Partial => "partial-provenance",
            Self::Inconsistent => "inconsistent-provenance",
            Self::Lost => "lost-provenance",
            Self::Changed => "changed-provenance",
        }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A release's status with its reasons.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub version: String,
    pub status: Status,
    pub explanation: String,
    /// Files, and files with provenance.
    pub files: usize,
    pub attested: usize,
    pub sources: Vec<Source>,
    /// The release it was compared with.
    pub previous: Option<String>,
    /// Sources new since the previous release, and those it had that this one lacks.
    pub added: Vec<Source>,
    pub removed: Vec<Source>,
}

fn listed(sources: &[Source]) -> String {
    sources
        .iter()
        .map(Source::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Verdicts from the store's rows: (version, filename, provenance document), releases
/// in upload order, a release without files as one row without a filename.
pub fn from_rows(rows: Vec<(String, Option<String>, Option<String>)>) -> Vec<Verdict> {
    let mut releases: Vec<ReleaseFiles> = Vec::new();
    for (version, filename, provenance) in rows {
        if releases.last().is_none_or(|r| r.version != version) {
            releases.push(ReleaseFiles {
                version,
                files: Vec::new(),
            });
        }
        if let (Some(release), Some(_)) = (releases.last_mut(), filename) {
            release
                .files
                .push(provenance.as_deref().map(sources).unwrap_or_default());
        }
    }
    statuses(&releases)
}

/// Each release's verdict, each compared with the one uploaded before it.
pub fn statuses(releases: &[ReleaseFiles]) -> Vec<Verdict> {
    releases
        .iter()
        .enumerate()
        .map(|(i, r)| verdict(r, i.checked_sub(1).map(|p| &releases[p])))
        .collect()
}

/// One release's verdict against the release before it.
pub fn verdict(release: &ReleaseFiles, previous: Option<&ReleaseFiles>) -> Verdict {
    let now = release.sources();
    let before = previous.map(ReleaseFiles::sources).unwrap_or_default();
    let (files, attested) = (release.files.len(), release.attested());
    let added: Vec<Source> = if before.is_empty() {
        Vec::new()
    } else {
        now.difference(&before).cloned().collect()
    };
    let removed: Vec<Source> = if now.is_empty() {
        Vec::new()
    } else {
        before.difference(&now).cloned().collect()
    };
    let prev_name = previous.map(|p| p.version.clone());
    let against = prev_name.as_deref().unwrap_or("(none)");
    let sources: Vec<Source> = now.iter().cloned().collect();
    let (status, explanation) = classify(&Counts {
        files,
        attested,
        before: &before,
        sources: &sources,
        added: &added,
        removed: &removed,
        against,
    });
    Verdict {
        version: release.version.clone(),
        status,
        explanation,
        files,
        attested,
        sources,
        previous: prev_name,
        added,
        removed,
    }
}

/// What [`classify`] weighs: one release's files and sources beside the previous one's.
struct Counts<'a> {
    files: usize,
    attested: usize,
    before: &'a BTreeSet<Source>,
    sources: &'a [Source],
    added: &'a [Source],
    removed: &'a [Source],
    against: &'a str,
}

/// PyPI's six states, first match wins, each with its explanation.
fn classify(c: &Counts<'_>) -> (Status, String) {
    let Counts {
        files,
        attested,
        before,
        sources,
        added,
        removed,
        against,
    } = *c;
    let now_len = sources.len();
    if attested == 0 && !before.is_empty() {
        (
            Status::Lost,
            format!(
                "no file has provenance, but the previous release {against} had it from {}",
                listed(&before.iter().cloned().collect::<Vec<_>>())
            ),
        )
    } else if attested == 0 {
        (
            Status::No,
            format!("none of its {files} file(s) has provenance"),
        )
    } else if now_len > 1 {
        (
            Status::Inconsistent,
            format!(
                "its files were attested by more than one publisher source or workflow: {}",
                listed(sources)
            ),
        )
    } else if attested < files {
        (
            Status::Partial,
            format!(
                "{attested} of its {files} files have provenance (from {})",
                listed(sources)
            ),
        )
    } else if !added.is_empty() || !removed.is_empty() {
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("{} added", listed(added)));
        }
        if !removed.is_empty() {
            parts.push(format!("{} removed", listed(removed)));
        }
        (
            Status::Changed,
            format!(
                "compared with the previous release {against}: {}",
                parts.join("; ")
            ),
        )
    } else {
        (
            Status::Full,
            format!(
                "all {files} file(s) have provenance from {}",
                listed(sources)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(workflow: &str) -> BTreeSet<Source> {
        BTreeSet::from([Source {
            kind: "GitHub".into(),
            source: "octo/demo".into(),
            workflow: workflow.into(),
        }])
    }

    fn release(version: &str, files: Vec<BTreeSet<Source>>) -> ReleaseFiles {
        ReleaseFiles {
            version: version.into(),
            files,
        }
    }

    #[test]
    fn each_state_from_a_history() {
        let none = BTreeSet::new;
        let history = [
            release("1.0", vec![none(), none()]),
            release("1.1", vec![github("release.yml"), github("release.yml")]),
            release("1.2", vec![github("release.yml"), none()]),
            release("1.3", vec![github("release.yml"), github("other.yml")]),
            release("1.4", vec![none(), none()]),
            release("1.5", vec![github("release.yml")]),
            release("1.6", vec![github("other.yml"), github("other.yml")]),
            release("1.7", vec![github("other.yml"), github("other.yml")]),
            release("1.8", vec![none()]),
            release("1.9", vec![none()]),
        ];
        let got: Vec<&str> = statuses(&history)
            .iter()
            .map(|v| v.status.as_str())
            .collect();
        assert_eq!(
            got,
            [
                "no-provenance",
                "full-provenance",
                "partial-provenance",
                "inconsistent-provenance",
                "lost-provenance",
                "full-provenance",
                "changed-provenance",
                "full-provenance",
                "lost-provenance",
                "no-provenance",
            ]
        );
        let changed = verdict(&history[6], Some(&history[5]));
        assert_eq!(changed.added.len(), 1);
        assert_eq!(changed.removed.len(), 1);
        assert!(
            changed.explanation.contains("other.yml) added"),
            "{}",
            changed.explanation
        );
        assert!(
            changed.explanation.contains("release.yml) removed"),
            "{}",
            changed.explanation
        );
    }

    #[test]
    fn a_first_release_and_an_empty_one() {
        let first = verdict(&release("1.0", vec![github("release.yml")]), None);
        assert_eq!(first.status, Status::Full);
        assert_eq!(first.previous, None);
        let empty = verdict(&release("1.0", vec![]), None);
        assert_eq!(empty.status, Status::No);
    }

    #[test]
    fn sources_are_read_from_the_integrity_document() {
        let doc = r#"{"version": 1, "attestation_bundles": [
            {"publisher": {"kind": "GitHub", "repository": "o/r", "workflow": "release.yml", "environment": null}, "attestations": []},
            {"publisher": {"kind": "GitLab", "repository": "g/p", "workflow_filepath": ".gitlab-ci.yml"}, "attestations": []},
            {"publisher": {"kind": "Google", "email": "a@b.iam.example"}, "attestations": []}]}"#;
        let got: Vec<String> = sources(doc).iter().map(Source::to_string).collect();
        assert_eq!(
            got,
            [
                "GitHub o/r (release.yml)",
                "GitLab g/p (.gitlab-ci.yml)",
                "Google a@b.iam.example"
            ]
        );
        assert!(sources("not json").is_empty());
    }

    /// tests/conformance/provenance.toml: one release per entry, each file's workflow.
    #[test]
    fn the_conformance_table() {
        #[derive(serde::Deserialize)]
        struct Table {
            provenance: Vec<Case>,
        }
        #[derive(serde::Deserialize)]
        struct Case {
            name: String,
            history: Vec<Vec<String>>,
            expect: Vec<String>,
        }
        let table: Table =
            toml::from_str(include_str!("../tests/conformance/provenance.toml")).unwrap();
        assert!(table.provenance.len() >= 10);
        for case in &table.provenance {
            let releases: Vec<ReleaseFiles> = case
                .history
                .iter()
                .enumerate()
                .map(|(i, files)| {
                    release(
                        &format!("1.{i}"),
                        files
                            .iter()
                            .map(|w| {
                                if w.is_empty() {
                                    BTreeSet::new()
                                } else {
                                    github(w)
                                }
                            })
                            .collect(),
                    )
                })
                .collect();
            let got: Vec<&str> = statuses(&releases)
                .iter()
                .map(|v| v.status.as_str())
                .collect();
            assert_eq!(got, case.expect, "{}", case.name);
        }
    }
}
