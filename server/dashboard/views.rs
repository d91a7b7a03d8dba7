//! Each page as a template and the view it renders, built from typed rows.

use askama::Template;
use serde_json::Value;

use super::{BASE, When};
use crate::audit::{AttestationReport, Candidate, ExchangeOutcome, Step, Verdict};
use crate::oidc::publisher::Publisher;
use crate::services::ExchangeActivity;
use crate::store::{ExchangeRow, FileRow, ProjectRow, TrustedIssuerRow};

/// What every page's frame needs.
pub struct Frame {
    pub base: &'static str,
    pub section: &'static str,
    pub refresh: bool,
    /// Faults armed on the index: every page says so, failures are then on purpose.
    pub faults_armed: usize,
    /// Which index this dashboard is of, when the server serves two ("PyPI", "TestPyPI").
    pub index: Option<&'static str>,
    /// The other index's dashboard: (its name, its base).
    pub other: Option<(&'static str, &'static str)>,
    /// Where this index's pages start ("" for PyPI, "/test" for TestPyPI).
    pub mount: &'static str,
    /// The server runs a workshop: the navigation links its projector view.
    pub workshop: bool,
}

/// The TestPyPI index's dashboard.
pub const TEST_BASE: &str = "/test/_mock/dashboard";

impl Frame {
    pub fn new(section: &'static str) -> Self {
        Self {
            base: BASE,
            section,
            refresh: false,
            faults_armed: 0,
            index: None,
            other: None,
            mount: "",
            workshop: false,
        }
    }

    /// The dashboard of TestPyPI (`test`) or of PyPI beside it (`two_indexes`).
    pub fn of_index(mut self, test: bool, two_indexes: bool) -> Self {
        if test {
            self.base = TEST_BASE;
            self.mount = "/test";
            self.index = Some("TestPyPI");
            self.other = Some(("PyPI", BASE));
        } else if two_indexes {
            self.index = Some("PyPI");
            self.other = Some(("TestPyPI", TEST_BASE));
        }
        self
    }

    pub fn with_faults(mut self, armed: usize) -> Self {
        self.faults_armed = armed;
        self
    }
}

/// One line of the exchange list.
pub struct ExchangeLine {
    pub id: i64,
    pub when: When,
    pub provider: String,
    pub outcome: String,
    pub accepted: bool,
    pub project: String,
    pub description: String,
}

impl ExchangeLine {
    pub fn new(e: &ExchangeRow, now: i64) -> Self {
        Self {
            id: e.id,
            when: When::at(e.created_at, now),
            provider: e.provider.clone().unwrap_or_default(),
            outcome: e.outcome.as_str().to_owned(),
            accepted: e.outcome == ExchangeOutcome::Accepted,
            project: e.project.clone().unwrap_or_default(),
            description: e.description.clone(),
        }
    }
}

/// One line of a file list.
pub struct FileLine {
    pub project: String,
    pub filename: String,
    pub version: String,
    pub size: String,
    pub when: When,
    pub token: String,
    /// Each attestation's verification (PEP 740), step by step.
    pub attestations: Vec<AttestationLine>,
}

pub struct AttestationLine {
    pub kind: String,
    pub steps: Vec<Step>,
}

fn attestation_lines(report: Option<&AttestationReport>) -> Vec<AttestationLine> {
    report
        .map(|r| r.0.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|a| AttestationLine {
            kind: a.kind.clone().unwrap_or_default(),
            steps: a.steps.clone(),
        })
        .collect()
}

impl FileLine {
    pub fn new(project: &str, f: &FileRow, now: i64) -> Self {
        Self {
            project: project.to_owned(),
            filename: f.filename.clone(),
            version: f.version.clone(),
            size: human_size(f.size),
            when: When::at(f.upload_time, now),
            token: f.token_id.clone().unwrap_or_default(),
            attestations: attestation_lines(f.attestations.0.as_ref()),
        }
    }
}

/// `1.2 KiB`, `3.4 MiB`.
fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    match bytes {
        i64::MIN..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}

/// One line of the publisher list.
pub struct PublisherLine {
    pub id: i64,
    pub provider: &'static str,
    pub project: String,
    pub summary: String,
    pub pending: bool,
    /// A pending publisher's expiry, and whether it has passed.
    pub expiry: Option<(When, bool)>,
    /// A preview provider's pull request: not on PyPI yet.
    pub preview: Option<&'static str>,
}

impl PublisherLine {
    pub fn new(p: &Publisher, now: i64) -> Self {
        Self {
            id: p.id,
            preview: p.provider.preview(),
            provider: p.provider.display(),
            project: p.project.clone(),
            summary: p.config.describe(),
            pending: p.pending,
            expiry: p.expires_at.map(|at| (When::at(at, now), at <= now)),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
pub struct OverviewPage {
    pub frame: Frame,
    pub upload_url: String,
    pub simple_url: String,
    pub accepted: usize,
    pub refused: usize,
    pub exchanges: Vec<ExchangeLine>,
    pub uploads: Vec<FileLine>,
    pub publishers: Vec<PublisherLine>,
    pub projects: usize,
}

#[derive(Template)]
#[template(path = "dashboard/exchanges.html")]
pub struct ExchangesPage {
    pub frame: Frame,
    pub exchanges: Vec<ExchangeLine>,
    pub burns: Vec<BurnLine>,
}

/// A claim of the token, as text.
pub struct ClaimLine {
    pub name: String,
    pub value: String,
}

/// One verdict row: strings ready for the table.
pub struct VerdictLine {
    pub claim: String,
    pub expected: String,
    pub actual: String,
    pub rule: String,
    pub ok: bool,
}

impl From<&Verdict> for VerdictLine {
    fn from(v: &Verdict) -> Self {
        Self {
            claim: v.claim.to_string(),
            expected: v.expected.clone(),
            actual: v.actual.clone().unwrap_or_else(|| "(absent)".into()),
            rule: v.rule.to_string(),
            ok: v.ok,
        }
    }
}

pub struct CandidateBlock {
    pub id: i64,
    pub project: String,
    pub summary: String,
    pub selected: bool,
    pub verdicts: Vec<VerdictLine>,
}

impl From<&Candidate> for CandidateBlock {
    fn from(c: &Candidate) -> Self {
        Self {
            id: c.publisher_id,
            project: c.project.clone(),
            summary: c.summary.clone(),
            selected: c.selected,
            verdicts: c.verdicts.iter().map(VerdictLine::from).collect(),
        }
    }
}

pub struct TokenLine {
    pub id: String,
    pub expires: When,
    pub burned: Option<When>,
}

/// One burn-token call, explained (PyPI's 202 says nothing).
pub struct BurnLine {
    pub when: When,
    pub token: String,
    pub outcome: &'static str,
    pub explanation: &'static str,
    pub revoked: bool,
}

impl BurnLine {
    pub fn new(b: &crate::store::BurnRow, now: i64) -> Self {
        Self {
            when: When::at(b.created_at, now),
            token: b.token_id.clone().unwrap_or_else(|| "(unknown)".into()),
            outcome: b.outcome.as_str(),
            explanation: b.outcome.explain(),
            revoked: b.outcome.revoked(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/exchange.html")]
pub struct ExchangePage {
    pub frame: Frame,
    pub e: ExchangeLine,
    pub header: Option<String>,
    pub claims: Vec<ClaimLine>,
    pub steps: Vec<Step>,
    pub key: Option<String>,
    pub candidates: Vec<CandidateBlock>,
    /// Publishers considered beyond those shown.
    pub candidates_omitted: usize,
    pub token: Option<TokenLine>,
    pub uploads: Vec<FileLine>,
    pub burns: Vec<BurnLine>,
    pub api: String,
}

/// A JSON value as display text (strings without quotes).
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl ExchangePage {
    pub fn new(activity: &ExchangeActivity, now: i64) -> Self {
        let row = &activity.exchange;
        let detail = &row.detail.0;
        let token = activity.activity.as_ref();
        Self {
            frame: Frame::new("exchanges"),
            e: ExchangeLine::new(row, now),
            header: detail
                .header
                .as_ref()
                .map(|h| serde_json::to_string_pretty(h).unwrap_or_default()),
            claims: detail
                .claims
                .iter()
                .flatten()
                .map(|(name, v)| ClaimLine {
                    name: name.clone(),
                    value: text(v),
                })
                .collect(),
            steps: detail.steps.clone(),
            key: detail
                .key
                .as_ref()
                .map(|k| format!("{} from {}", k.kid, k.jwks_url)),
            candidates: detail.candidates.iter().map(CandidateBlock::from).collect(),
            candidates_omitted: detail.candidates_omitted,
            token: token.and_then(|t| t.token.as_ref()).map(|t| TokenLine {
                id: t.id.clone(),
                expires: When::at(t.expires_at.unwrap_or_default(), now),
                burned: t.burned_at.map(|b| When::at(b, now)),
            }),
            uploads: token
                .map(|t| {
                    t.uploads
                        .iter()
                        .map(|u| FileLine::new(&u.project, &u.file, now))
                        .collect()
                })
                .unwrap_or_default(),
            burns: token
                .map(|t| t.burns.iter().map(|b| BurnLine::new(b, now)).collect())
                .unwrap_or_default(),
            api: format!("/_mock/api/exchanges/{}", row.id),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/publishers.html")]
pub struct PublishersPage {
    pub frame: Frame,
    pub publishers: Vec<PublisherLine>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub struct ProjectBlock {
    pub name: String,
    pub normalized: String,
    pub files: Vec<FileLine>,
    /// The project's lifecycle status, when not active.
    pub status: Option<String>,
    /// Newest release first.
    pub provenance: Vec<ProvenanceLine>,
}

/// One release's provenance status, with what changed.
pub struct ProvenanceLine {
    pub version: String,
    pub status: &'static str,
    /// `full-provenance` and `no-provenance` are not worth a warning colour.
    pub good: bool,
    pub explanation: String,
    pub sources: String,
    /// The release's lifecycle status (`active` without one).
    pub lifecycle: String,
}

impl ProvenanceLine {
    pub fn new(v: &crate::provenance::Verdict, lifecycle: &str) -> Self {
        use crate::provenance::Status;
        Self {
            version: v.version.clone(),
            status: v.status.as_str(),
            good: matches!(v.status, Status::Full | Status::No),
            explanation: v.explanation.clone(),
            sources: v
                .sources
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            lifecycle: lifecycle.to_owned(),
        }
    }
}

impl ProjectBlock {
    /// `lifecycle`: the releases that are not active, with their status.
    pub fn new(
        p: &ProjectRow,
        files: &[FileRow],
        provenance: &[crate::provenance::Verdict],
        lifecycle: &[(String, crate::store::ReleaseStatus, Option<String>)],
        now: i64,
    ) -> Self {
        let status_of = |version: &str| {
            lifecycle
                .iter()
                .find(|(v, _, _)| v == version)
                .map_or("active", |(_, s, _)| s.as_str())
        };
        Self {
            name: p.name.clone(),
            normalized: p.normalized_name.clone(),
            files: files
                .iter()
                .map(|f| FileLine::new(&p.normalized_name, f, now))
                .collect(),
            status: (p.status() != crate::store::ProjectStatus::Active)
                .then(|| p.status().as_str().to_owned()),
            provenance: provenance
                .iter()
                .rev()
                .map(|v| ProvenanceLine::new(v, status_of(&v.version)))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/projects.html")]
pub struct ProjectsPage {
    pub frame: Frame,
    pub projects: Vec<ProjectBlock>,
}

pub struct IssuerLine {
    pub provider: String,
    pub url: String,
    pub keys_from: String,
    pub kids: Vec<String>,
}

impl IssuerLine {
    pub fn new(i: &TrustedIssuerRow, kids: Vec<String>) -> Self {
        Self {
            provider: i.provider.clone(),
            url: i.url.clone(),
            keys_from: i
                .jwks_url
                .clone()
                .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", i.url)),
            kids,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/issuers.html")]
pub struct IssuersPage {
    pub frame: Frame,
    pub issuers: Vec<IssuerLine>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_well() {
        assert_eq!(super::human_size(304), "304 B");
        assert_eq!(super::human_size(1030), "1.0 KiB");
        assert_eq!(super::human_size(5 << 20), "5.0 MiB");
    }
}
