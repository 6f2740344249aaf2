//! Every gRPC call (but the standard health check) must carry a platform token:
//! `authorization: Bearer <jwt>`, signed with the deployment's `auth.jwt_secret`. A user's
//! login token identifies that user (owner-only calls act as them); a service calling
//! another mints a token for [`SERVICE_ID`], which may read but is nobody's owner.

use domain::{TokenIssuer, UserId};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The identity of the platform's own services in the tokens they send each other.
pub const SERVICE_ID: &str = "00000000-0000-0000-0000-00000000c0de";

/// Who made a gRPC call: the verified token's subject (in the request's extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcCaller(pub UserId);

/// Refuses calls without a valid token; records the caller.
#[derive(Clone, Debug)]
pub struct RequireToken {
    tokens: TokenIssuer,
}

impl RequireToken {
    /// Verifies with `tokens`.
    pub fn new(tokens: TokenIssuer) -> Self {
        Self { tokens }
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Status::unauthenticated("unauthorized: expected `authorization: Bearer <token>`")
            })?;
        let user = self
            .tokens
            .verify(token)
            .map_err(|e| Status::unauthenticated(format!("{}: {e}", e.code())))?;
        request.extensions_mut().insert(GrpcCaller(user));
        Ok(request)
    }
}

/// The caller a [`RequireToken`] recorded (UNAUTHENTICATED when the service was
/// mounted without it).
pub fn caller<T>(request: &Request<T>) -> Result<UserId, Status> {
    request
        .extensions()
        .get::<GrpcCaller>()
        .map(|c| c.0.clone())
        .ok_or_else(|| Status::unauthenticated("unauthorized: no verified caller"))
}

/// Whether `caller` is one of the platform's services (not a user).
pub fn is_service(caller: &UserId) -> bool {
    caller.as_str() == SERVICE_ID
}

/// Only the platform's services may make this call (PERMISSION_DENIED for a user).
pub fn require_service<T>(request: &Request<T>) -> Result<(), Status> {
    if is_service(&caller(request)?) {
        Ok(())
    } else {
        Err(Status::permission_denied(
            "forbidden: only the platform's services may make this call",
        ))
    }
}

/// Adds a fresh service token to every outgoing call.
#[derive(Clone, Debug)]
pub struct ServiceToken {
    tokens: TokenIssuer,
    service: UserId,
}

impl ServiceToken {
    /// Mints with `tokens` (the deployment's shared secret).
    pub fn new(tokens: TokenIssuer) -> Self {
        Self {
            tokens,
            service: UserId::parse(SERVICE_ID).unwrap_or_default(),
        }
    }
}

impl Interceptor for ServiceToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let issued = self
            .tokens
            .issue(&self.service)
            .map_err(|e| Status::internal(format!("minting a service token: {e}")))?;
        let value = MetadataValue::try_from(format!("Bearer {}", issued.token))
            .map_err(|e| Status::internal(e.to_string()))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}
