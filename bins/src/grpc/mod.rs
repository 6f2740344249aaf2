//! The gRPC side: generated code from `proto/`, the services, and error mapping.

pub mod activity;
pub mod auth;
pub mod im;
pub mod status;
pub mod user;

/// Code generated from `proto/*.proto` (tonic + prost, compiled with protox).
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub mod pb {
    /// `social_im.user.v1`.
    pub mod user {
        tonic::include_proto!("social_im.user.v1");
    }
    /// `social_im.activity.v1`.
    pub mod activity {
        tonic::include_proto!("social_im.activity.v1");
    }
    /// `social_im.im.v1`.
    pub mod im {
        tonic::include_proto!("social_im.im.v1");
    }
}
