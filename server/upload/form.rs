//! Reading the legacy upload form. Fields may come in any order and some clients
//! send extra ones (clients.md §0.7); only `content` is a file, streamed to disk.

use axum::extract::Multipart;
use axum::extract::multipart::Field;

use crate::error::UploadError;
use crate::store::{BlobStore, StagedFile};

/// Explicit limits on everything that is not the distribution file itself.
pub const MAX_FIELDS: usize = 512;
pub const MAX_FIELD_BYTES: usize = 4 << 20;
pub const MAX_TEXT_BYTES: usize = 8 << 20;

pub struct UploadedFile {
    pub filename: String,
    pub content_type: Option<String>,
    pub staged: StagedFile,
}

#[derive(Default)]
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub file: Option<UploadedFile>,
}

impl Form {
    /// The first non-empty value, PyPI's "UNKNOWN" placeholder counting as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty() && v != "UNKNOWN")
            .map(|(_, v)| v.as_str())
            .next()
    }

    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty() && v != "UNKNOWN")
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> UploadError {
    // A stalled body (see `http::idle`) is the client's silence, not a bad form.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(idle) = c.downcast_ref::<crate::error::BodyIdle>() {
            return UploadError {
                status: axum::http::StatusCode::REQUEST_TIMEOUT,
                message: format!("Request Timeout: {idle}; the connection is closed"),
                json: false,
                cause: None,
            };
        }
        cause = c.source();
    }
    UploadError::bad_request(format!("Invalid upload request: {}", e.body_text()))
}

/// Read the whole form, streaming `content` into the blob store's staging area.
/// `max_file` is the largest accepted distribution; going past it stops the read.
pub async fn read(
    mut multipart: Multipart,
    blobs: &BlobStore,
    max_file: u64,
) -> Result<Form, UploadError> {
    let mut form = Form::default();
    let mut text_bytes = 0usize;
    let mut count = 0usize;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        count += 1;
        if count > MAX_FIELDS {
            return Err(UploadError::bad_request(format!(
                "Too many form fields (the limit is {MAX_FIELDS})."
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "content" {
            if form.file.is_some() {
                return Err(UploadError::bad_request("content: Should not be a tuple."));
            }
            form.file = Some(stream_file(field, blobs, max_file, &form).await?);
        } else if field.file_name().is_some() && name != "attestations" {
            return Err(UploadError::bad_request(format!(
                "{name}: Should not be a tuple."
            )));
        } else {
            let value = read_text(field, &name, &mut text_bytes).await?;
            form.fields.push((name, value));
        }
    }
    Ok(form)
}

async fn read_text(
    mut field: Field<'_>,
    name: &str,
    total: &mut usize,
) -> Result<String, UploadError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        bytes.extend_from_slice(&chunk);
        *total += chunk.len();
        if bytes.len() > MAX_FIELD_BYTES || *total > MAX_TEXT_BYTES {
            return Err(UploadError::bad_request(format!(
                "{name}: field too large (limits: {MAX_FIELD_BYTES} bytes a field, {MAX_TEXT_BYTES} bytes of text in all)"
            )));
        }
    }
    // Warehouse escapes NULs; we refuse to guess and replace them.
    Ok(String::from_utf8_lossy(&bytes).replace('\0', "\\x00"))
}

async fn stream_file(
    mut field: Field<'_>,
    blobs: &BlobStore,
    max_file: u64,
    form: &Form,
) -> Result<UploadedFile, UploadError> {
    let filename = field.file_name().unwrap_or_default().to_owned();
    let content_type = field.content_type().map(str::to_owned);
    let mut writer = blobs.staging_writer();
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > max_file {
            let project = form.get("name").unwrap_or("this project");
            return Err(UploadError::bad_request(format!(
                "File too large. Limit for project '{project}' is {} MB. (mock-pypi: --max-upload-size)",
                max_file / (1024 * 1024)
            )));
        }
        writer.write(chunk).await.map_err(UploadError::io)?;
    }
    let staged = writer.finish().await.map_err(UploadError::io)?;
    Ok(UploadedFile {
        filename,
        content_type,
        staged,
    })
}
