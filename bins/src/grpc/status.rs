//! Domain errors as gRPC statuses: the same stable code travels in the message.

use domain::{DomainError, ErrorKind};
use tonic::{Code, Status};

/// The status for `err`: its kind picks the code; the message starts with the stable
/// error code (`activity_full: ...`).
pub fn to_status(err: DomainError) -> Status {
    let code = match err.kind() {
        ErrorKind::InvalidInput => Code::InvalidArgument,
        ErrorKind::Unauthorized => Code::Unauthenticated,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::FailedPrecondition,
        ErrorKind::Unavailable => Code::Unavailable,
        _ => Code::Internal,
    };
    if code == Code::Internal {
        tracing::error!(error = %err, "gRPC call failed");
    }
    let text = err.to_string();
    let prefix = format!("{}: ", err.code());
    // Some messages start with their code already ("forbidden: ..."): not twice.
    let message = if text.starts_with(&prefix) {
        text
    } else {
        format!("{prefix}{text}")
    };
    Status::new(code, message)
}

/// `INVALID_ARGUMENT` for a field that does not parse.
pub fn invalid(field: &str, err: DomainError) -> Status {
    Status::invalid_argument(format!("{}: {field}: {err}", err.code()))
}
