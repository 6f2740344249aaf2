//! The user and activity servers, each started from settings.

use std::sync::Arc;

use domain::service::{ActivityService, UserService};

use super::broker::Broker;
use super::platform::{Platform, StartError};
use super::running::Running;
use crate::activities::http::{self as activity_http, ActivityState};
use crate::config::Settings;
use crate::grpc::activity::ActivityGrpc;
use crate::grpc::user::UserGrpc;
use crate::users::http::{self as user_http, UserState};

/// Starts the user server: `/api/v1/users/...` over HTTP, `UserService` over gRPC.
pub async fn start_user_server(settings: Settings) -> Result<Running, StartError> {
    let broker = Broker::connect(&settings.broker).await?;
    user_server(settings, broker).await
}

/// The user server on a given broker.
pub async fn user_server(settings: Settings, broker: Broker) -> Result<Running, StartError> {
    let platform = Platform::start_with(settings, broker).await?;
    let users = Arc::new(UserService::new(
        platform.store.clone(),
        platform.tokens.clone(),
    ));
    let routes = user_http::routes(UserState {
        users: Arc::clone(&users),
        tokens: platform.tokens.clone(),
    });
    let grpc = tonic::service::Routes::new(UserGrpc::server(users, platform.tokens.clone()));
    Running::serve(platform, routes, grpc).await
}

/// Starts the activity server: `/api/v1/activities/...` over HTTP, `ActivityService`
/// over gRPC.
pub async fn start_activity_server(settings: Settings) -> Result<Running, StartError> {
    let broker = Broker::connect(&settings.broker).await?;
    activity_server(settings, broker).await
}

/// The activity server on a given broker.
pub async fn activity_server(settings: Settings, broker: Broker) -> Result<Running, StartError> {
    let platform = Platform::start_with(settings, broker).await?;
    let activities = Arc::new(ActivityService::new(platform.store.clone()));
    let routes = activity_http::routes(ActivityState {
        activities: Arc::clone(&activities),
        tokens: platform.tokens.clone(),
    });
    let grpc = tonic::service::Routes::new(ActivityGrpc::server(activities));
    Running::serve(platform, routes, grpc).await
}
