//! Alibaba-shaped API errors: an HTTP status, a `Code` and a `Message`.

use axum::http::StatusCode;
use std::borrow::Cow;

/// An error answered to the client as `{"RequestId","HostId","Code","Message","Recommend"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// The cloud's error code, e.g. `SignatureDoesNotMatch`.
    pub code: Cow<'static, str>,
    /// Human-readable explanation naming the offending field.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// HTTP 400 with the given code.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A required parameter is absent.
    pub fn missing(field: &str) -> Self {
        Self::bad_request(
            format!("MissingParameter.{field}"),
            format!(
                "The input parameter \"{field}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    /// A parameter has a value the API does not accept.
    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_request(
            format!("InvalidParameter.{field}"),
            format!("The specified parameter \"{field}\" is not valid: {why}"),
        )
    }

    /// A resource id that does not exist in the caller's account.
    pub fn not_found(code: &'static str, field: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code,
            format!("The specified {field} \"{id}\" does not exist."),
        )
    }

    /// A valid request sent with `DryRun=true`.
    pub fn dry_run() -> Self {
        Self::bad_request(
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        )
    }

    /// An unexpected server-side failure (the store failed).
    pub fn internal(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("The request processing has failed due to some unknown error: {why}"),
        )
    }

    /// The JSON body of this error for a request.
    pub fn body(&self, request_id: &str, host_id: &str) -> serde_json::Value {
        serde_json::json!({
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
            "Recommend": format!("Check the request against the VPC 2016-04-28 API reference for {}.", self.code),
        })
    }
}

impl From<strait_model::validate::ValidationError> for ApiError {
    fn from(e: strait_model::validate::ValidationError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.code, e.message)
    }
}
