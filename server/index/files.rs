//! `/files/<b2[..2]>/<b2[2..4]>/<b2[4..]>/<filename>` and its `.metadata` (PEP 658).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::app::AppState;
use crate::error::IndexError;

pub async fn file(
    State(app): State<AppState>,
    Path(path): Path<String>,
    request: Request,
) -> Result<Response, IndexError> {
    if let Some(wheel) = path.strip_suffix(".metadata") {
        let bytes = app
            .store
            .file_metadata(wheel)
            .await?
            .ok_or(IndexError::NotFound)?;
        let mut response = (StatusCode::OK, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        return Ok(response);
    }
    let blob = app.blobs.blob_for_url(&path).ok_or(IndexError::NotFound)?;
    // ServeFile answers HEAD, Range and conditional requests.
    let response = match ServeFile::new(blob).oneshot(request).await {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    if response.status() == StatusCode::NOT_FOUND {
        return Err(IndexError::NotFound);
    }
    Ok(response)
}
