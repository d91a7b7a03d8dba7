//! The control API's JSON bodies: a body that may have failed to parse (so the
//! handler answers in the API's shape, not axum's), and the object most routes want.

use axum::Json;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::services::ServiceError;

/// A JSON body as a handler receives it, parse failure included.
pub type Body = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

/// The body as a JSON object, or the API's 400 saying what it was instead.
pub fn object(body: Body) -> Result<Map<String, Value>, ApiError> {
    match body {
        Ok(Json(Value::Object(map))) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(e.body_text())),
    }
}

/// The API's answer for a refused or failed operation.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => ApiError::BadRequest(m),
            ServiceError::InvalidField { field, message } => ApiError::BadField { field, message },
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Store(e) => ApiError::Store(e),
            ServiceError::Internal(e) => ApiError::Store(crate::store::StoreError::Other(e)),
        }
    }
}
