//! Group commit for uploads: concurrent uploads share one transaction of multi-row
//! statements and one blocking call that moves all their blobs into place (a database
//! or thread round trip costs more than the work itself). Uniqueness is still decided
//! by the database (filename and content are unique), so PostgreSQL replicas racing on
//! one filename still leave exactly one file.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Row};

use super::batcher::{Batcher, Dedicated, fail_all};
use super::blobs::{BlobStore, StagedFile};
use super::sql::{in_list, placeholders};
use super::{Changes, Store, StoreError, StoreResult};
use crate::audit::AttestationReport;
use crate::packaging::FileType;
use crate::util::now;

/// A validated upload, ready to be recorded.
pub struct NewFile {
    pub project_id: i64,
    /// The project's normalized name: whose cached pages the file changes.
    pub project: String,
    pub version: String,
    pub release_metadata: serde_json::Value,
    pub filename: String,
    pub packagetype: FileType,
    pub python_version: String,
    pub requires_python: Option<String>,
    pub path: String,
    pub metadata: Option<WheelMetadata>,
    pub token_id: Option<String>,
    /// A release created before this time takes no new files (PyPI's 14 days).
    pub release_cutoff: Option<i64>,
    /// Verified attestations to store with the file, or that they were refused (the
    /// refusal is the answer only if nothing else refuses the file first; its reason
    /// stays with the caller).
    pub attestations: Attestations,
}

/// An upload's attestations as the store sees them.
#[derive(Clone, Debug, Default)]
pub enum Attestations {
    #[default]
    None,
    Verified(StoredAttestations),
    Refused,
}

impl Attestations {
    fn stored(&self) -> Option<&StoredAttestations> {
        match self {
            Self::Verified(a) => Some(a),
            Self::None | Self::Refused => None,
        }
    }
}

/// What a file's verified attestations leave behind.
#[derive(Clone, Debug)]
pub struct StoredAttestations {
    /// The Integrity API's provenance document.
    pub provenance: String,
    /// Each attestation's verification, step by step.
    pub report: AttestationReport,
}

pub struct WheelMetadata {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub blake2_256: String,
}

/// What happened to an upload at the database.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreFileOutcome {
    Stored,
    /// Same filename and same content: PyPI answers 200 and changes nothing.
    Identical,
    /// Same filename or same content as another file.
    Exists {
        filename: String,
        blake2_256: String,
    },
    SecondSdist,
    /// The release is older than the index allows new files for.
    ReleaseTooOld,
    /// Its attestations were refused and nothing refused it first (the caller holds
    /// the reason).
    AttestationsRefused,
}

pub(crate) struct FileJob {
    pub file: NewFile,
    pub staged: StagedFile,
}

/// What a batch decided for one job; conflicts are classified after the commit.
enum Decision {
    Stored,
    SecondSdist,
    Conflict,
    /// The release is past its upload window; unless the file exists already (PyPI
    /// checks duplicates first), that is the answer.
    TooOld,
    /// Its attestations were refused; unless the file exists already (PyPI checks
    /// duplicates, the release's age and a second sdist first), that is the answer.
    BadAttestations,
}

pub(super) fn writer(
    pool: AnyPool,
    blobs: BlobStore,
    changes: Arc<Changes>,
) -> Batcher<FileJob, StoreFileOutcome> {
    let conn = Arc::new(tokio::sync::Mutex::new(Dedicated::new(pool)));
    Batcher::spawn("uploads", 1024, move |mut jobs: Vec<FileJob>| {
        let (conn, blobs, changes) = (conn.clone(), blobs.clone(), changes.clone());
        async move {
            let mut conn = conn.lock().await;
            let written = match conn.get().await {
                Ok(c) => write_batch(c, &blobs, &mut jobs).await,
                Err(e) => Err(e.into()),
            };
            let decisions = match written {
                Ok(d) => d,
                Err(e) => {
                    conn.discard();
                    if super::is_disk_full(&e) {
                        tracing::error!(error = %e, batch = jobs.len(), "the disk is full: nothing of this batch was stored");
                        return jobs.iter().map(|_| Err(StoreError::DiskFull)).collect();
                    }
                    return fail_all("uploads", jobs.len(), e);
                }
            };
            let pool = conn.pool().clone();
            // A new file changes its project's pages only, not every cached page.
            let mut touched: Vec<&str> = jobs
                .iter()
                .zip(&decisions)
                .filter(|(_, d)| matches!(d, Decision::Stored))
                .map(|(j, _)| j.file.project.as_str())
                .collect();
            touched.sort_unstable();
            touched.dedup();
            if !touched.is_empty() {
                changes.files_changed(&touched).await;
            }
            let mut outcomes = Vec::with_capacity(jobs.len());
            for (job, decision) in jobs.iter().zip(decisions) {
                outcomes.push(match decision {
                    Decision::Stored => Ok(StoreFileOutcome::Stored),
                    Decision::SecondSdist => Ok(StoreFileOutcome::SecondSdist),
                    Decision::Conflict => classify(&pool, job)
                        .await
                        .and_then(|found| found.ok_or(StoreError::Conflict)),
                    Decision::TooOld => classify(&pool, job)
                        .await
                        .map(|found| found.unwrap_or(StoreFileOutcome::ReleaseTooOld)),
                    Decision::BadAttestations => classify(&pool, job)
                        .await
                        .map(|found| found.unwrap_or(StoreFileOutcome::AttestationsRefused)),
                });
            }
            outcomes
        }
    })
}

/// Once a file with this name or content exists: PyPI's silent 200 for the very same
/// file, "already exists" otherwise; `None` if there is no such file.
async fn classify(pool: &AnyPool, job: &FileJob) -> StoreResult<Option<StoreFileOutcome>> {
    let d = &job.staged.digests;
    let row = sqlx::query("SELECT filename, sha256_digest, blake2_256_digest FROM files WHERE filename = $1 OR blake2_256_digest = $2")
        .bind(&job.file.filename)
        .bind(&d.blake2_256)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let filename: String = row.try_get("filename")?;
    let sha256: String = row.try_get("sha256_digest")?;
    let blake2: String = row.try_get("blake2_256_digest")?;
    Ok(Some(
        if filename == job.file.filename && sha256 == d.sha256 && blake2 == d.blake2_256 {
            StoreFileOutcome::Identical
        } else {
            StoreFileOutcome::Exists {
                filename,
                blake2_256: blake2,
            }
        },
    ))
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;
/// (project id, version) → (release id, created at).
type Releases = HashMap<(i64, String), (i64, i64)>;

async fn write_batch(
    conn: &mut AnyConnection,
    blobs: &BlobStore,
    jobs: &mut [FileJob],
) -> anyhow::Result<Vec<Decision>> {
    let mut tx = conn.begin().await?;
    let releases = ensure_releases(&mut tx, jobs).await?;
    let release = |f: &NewFile| releases.get(&(f.project_id, f.version.clone())).copied();
    let release_of = |f: &NewFile| release(f).map(|(id, _)| id);
    let mut decisions = second_sdists(&mut tx, jobs, &release_of).await?;
    // PyPI's order: duplicates, then the release's age, then a second sdist.
    for (job, decision) in jobs.iter().zip(decisions.iter_mut()) {
        let created = release(&job.file).map(|(_, created)| created);
        if let (Some(created), Some(cutoff)) = (created, job.file.release_cutoff)
            && created < cutoff
        {
            *decision = Some(Decision::TooOld);
        }
        if decision.is_none() && matches!(job.file.attestations, Attestations::Refused) {
            *decision = Some(Decision::BadAttestations);
        }
    }
    insert_files(&mut tx, jobs, &release_of, &mut decisions).await?;
    let decisions: Vec<Decision> = decisions
        .into_iter()
        .map(|d| d.unwrap_or(Decision::Conflict))
        .collect();
    let stored: Vec<usize> = (0..jobs.len())
        .filter(|&i| matches!(decisions[i], Decision::Stored))
        .collect();
    if stored.is_empty() {
        tx.commit().await?;
        return Ok(decisions);
    }
    // Serials, the small blobs in the transaction, the large ones into place, then the
    // commit; a failed commit takes the new large blobs back.
    bump_serials(&mut tx, stored.iter().map(|&i| jobs[i].file.project_id)).await?;
    let small: Vec<(&str, &[u8])> = stored
        .iter()
        .filter_map(|&i| {
            let job = &jobs[i];
            job.staged
                .bytes()
                .map(|b| (job.staged.digests.blake2_256.as_str(), b.as_ref()))
        })
        .collect();
    insert_small_blobs(&mut tx, &small).await?;
    drop(small);
    let moves: Vec<(&mut StagedFile, &str)> = jobs
        .iter_mut()
        .enumerate()
        .filter(|(i, j)| stored.contains(i) && j.staged.on_disk())
        .map(|(_, j)| (&mut j.staged, j.file.path.as_str()))
        .collect();
    let created = blobs.place_all(moves).await?;
    if let Err(e) = tx.commit().await {
        for path in created {
            blobs.remove(&path).await;
        }
        return Err(e.into());
    }
    Ok(decisions)
}

/// Small files' bytes, content-addressed: a blob already there (an earlier upload of
/// the same bytes whose row was deleted by a reset on another replica) is kept.
async fn insert_small_blobs(tx: &mut Tx<'_>, blobs: &[(&str, &[u8])]) -> Result<(), sqlx::Error> {
    if blobs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO small_blobs (blake2_256, content, created_at) VALUES {} ON CONFLICT (blake2_256) DO NOTHING",
        placeholders(blobs.len(), 3)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    let at = now();
    for (digest, content) in blobs {
        query = query.bind(*digest).bind(*content).bind(at);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Every (project, version) of the batch once: get or create the releases in one
/// statement.
async fn ensure_releases(tx: &mut Tx<'_>, jobs: &[FileJob]) -> Result<Releases, sqlx::Error> {
    let mut releases: Vec<(i64, &str, &serde_json::Value)> = Vec::new();
    for job in jobs {
        let f = &job.file;
        if !releases
            .iter()
            .any(|(p, v, _)| *p == f.project_id && *v == f.version)
        {
            releases.push((f.project_id, &f.version, &f.release_metadata));
        }
    }
    let sql = format!(
        "INSERT INTO releases (project_id, version, metadata, created_at) VALUES {} \
         ON CONFLICT (project_id, version) DO UPDATE SET version = excluded.version RETURNING id, project_id, version, created_at",
        placeholders(releases.len(), 4)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (project, version, metadata) in &releases {
        query = query
            .bind(*project)
            .bind(version.to_string())
            .bind(metadata.to_string())
            .bind(now());
    }
    let mut ids = Releases::new();
    for row in query.fetch_all(&mut **tx).await? {
        ids.insert(
            (row.try_get("project_id")?, row.try_get("version")?),
            (row.try_get("id")?, row.try_get("created_at")?),
        );
    }
    Ok(ids)
}

/// One sdist per release: those already stored, then first come first served. The
/// jobs that would be a second sdist are decided here; the others are `None`.
async fn second_sdists(
    tx: &mut Tx<'_>,
    jobs: &[FileJob],
    release_of: &impl Fn(&NewFile) -> Option<i64>,
) -> Result<Vec<Option<Decision>>, sqlx::Error> {
    let mut decisions: Vec<Option<Decision>> = jobs.iter().map(|_| None).collect();
    let sdist_releases: Vec<i64> = jobs
        .iter()
        .filter(|j| j.file.packagetype == FileType::Sdist)
        .filter_map(|j| release_of(&j.file))
        .collect();
    if sdist_releases.is_empty() {
        return Ok(decisions);
    }
    let sql = format!(
        "SELECT release_id, filename FROM files WHERE packagetype = 'sdist' AND release_id IN ({})",
        in_list(sdist_releases.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for r in &sdist_releases {
        query = query.bind(*r);
    }
    let mut with_sdist: HashMap<i64, String> = HashMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        with_sdist.insert(row.try_get("release_id")?, row.try_get("filename")?);
    }
    for (i, job) in jobs.iter().enumerate() {
        let release = match release_of(&job.file) {
            Some(r) if job.file.packagetype == FileType::Sdist => r,
            _ => continue,
        };
        match with_sdist.get(&release) {
            Some(existing) if *existing != job.file.filename => {
                decisions[i] = Some(Decision::SecondSdist)
            }
            Some(_) => {}
            None => {
                with_sdist.insert(release, job.file.filename.clone());
            }
        }
    }
    Ok(decisions)
}

/// The files not yet decided, in one statement; RETURNING names the ones that were new.
async fn insert_files(
    tx: &mut Tx<'_>,
    jobs: &[FileJob],
    release_of: &impl Fn(&NewFile) -> Option<i64>,
    decisions: &mut [Option<Decision>],
) -> Result<(), sqlx::Error> {
    let candidates: Vec<usize> = (0..jobs.len())
        .filter(|&i| decisions[i].is_none())
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO files (release_id, filename, packagetype, python_version, requires_python, size, md5_digest, \
         sha256_digest, blake2_256_digest, path, metadata_sha256, metadata_blake2_256, upload_time, token_id, metadata, \
         provenance, attestations) \
         VALUES {} ON CONFLICT DO NOTHING RETURNING filename, blake2_256_digest",
        placeholders(candidates.len(), 17)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for &i in &candidates {
        let (f, d) = (&jobs[i].file, &jobs[i].staged.digests);
        query = query
            .bind(release_of(f))
            .bind(f.filename.clone())
            .bind(f.packagetype.as_str())
            .bind(f.python_version.clone())
            .bind(f.requires_python.clone())
            .bind(d.size as i64)
            .bind(d.md5.clone())
            .bind(d.sha256.clone())
            .bind(d.blake2_256.clone())
            .bind(f.path.clone())
            .bind(f.metadata.as_ref().map(|m| m.sha256.clone()))
            .bind(f.metadata.as_ref().map(|m| m.blake2_256.clone()))
            .bind(now())
            .bind(f.token_id.clone())
            .bind(f.metadata.as_ref().map(|m| m.bytes.clone()))
            .bind(f.attestations.stored().map(|a| a.provenance.clone()))
            .bind(f.attestations.stored().map(|a| a.report.to_stored()));
    }
    // A row is named by (filename, content): several jobs may share a filename.
    let mut inserted: HashSet<(String, String)> = HashSet::new();
    for row in query.fetch_all(&mut **tx).await? {
        inserted.insert((row.try_get("filename")?, row.try_get("blake2_256_digest")?));
    }
    // Only the first job naming an inserted row stored it; the others (same name and
    // bytes, sent twice at once) are classified after the commit.
    for &i in &candidates {
        let key = (
            jobs[i].file.filename.clone(),
            jobs[i].staged.digests.blake2_256.clone(),
        );
        decisions[i] = Some(if inserted.remove(&key) {
            Decision::Stored
        } else {
            Decision::Conflict
        });
    }
    Ok(())
}

/// A new file moves its project's serial on (once per project per batch).
async fn bump_serials(
    tx: &mut Tx<'_>,
    projects: impl Iterator<Item = i64>,
) -> Result<(), sqlx::Error> {
    let projects: Vec<i64> = projects.collect::<HashSet<_>>().into_iter().collect();
    let sql = format!(
        "UPDATE projects SET last_serial = last_serial + 1 WHERE id IN ({})",
        in_list(projects.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for p in &projects {
        query = query.bind(*p);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

impl Store {
    /// Record an upload and move its bytes into place, all or nothing (group-committed
    /// with concurrent uploads; see `files`).
    pub async fn store_file(
        &self,
        staged: StagedFile,
        file: NewFile,
    ) -> StoreResult<StoreFileOutcome> {
        self.files.submit(FileJob { file, staged }).await
    }
}
