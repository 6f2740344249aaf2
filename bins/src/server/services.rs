//! The servers, each started from settings: the user server, the activity server, the
//! IM server, and the all-in-one server that serves all three from one process on one
//! port.

use std::sync::Arc;

use axum::Router;
use domain::service::{ActivityService, UserService};
use tonic::service::Routes;

use super::broker::Broker;
use super::platform::{Platform, StartError};
use super::running::{Background, Running};
use crate::activities::http::{self as activity_http, ActivityState};
use crate::config::Settings;
use crate::grpc::activity::ActivityGrpc;
use crate::grpc::auth::RequireToken;
use crate::grpc::pb::activity::activity_service_server::ActivityServiceServer;
use crate::grpc::pb::user::user_service_server::UserServiceServer;
use crate::grpc::user::UserGrpc;
use crate::im::directory::{GrpcUsers, LocalUsers, NoUsers, UserDirectory};
use crate::im::ImService;
use crate::users::http::{self as user_http, UserState};
use tonic::service::interceptor::InterceptedService;

/// Handler retries before a message goes to the poison topic.
const HANDLER_ATTEMPTS: u32 = 5;
/// Where messages that keep failing go (inspect and replay with `mq::poison`).
pub const POISON_TOPIC: &str = "poison";

/// A router for a service's event handlers: poison queue outside, retry inside.
fn event_router(platform: &Platform) -> mq::Router {
    use mq::middleware::{PoisonQueueLayer, RecoverLayer, RetryLayer, RetryPolicy};
    let mut router = mq::Router::new(mq::RouterConfig::default());
    router
        .layer(PoisonQueueLayer::new(
            Arc::clone(&platform.broker.publisher),
            POISON_TOPIC,
        ))
        .layer(RetryLayer::new(
            RetryPolicy::default()
                .max_attempts(HANDLER_ATTEMPTS)
                .initial_interval(std::time::Duration::from_millis(50)),
        ))
        .layer(RecoverLayer::new());
    router
}

/// A gRPC service behind the token check.
type Guarded<S> = InterceptedService<S, RequireToken>;

fn guard<S>(platform: &Platform, service: S) -> Guarded<S> {
    InterceptedService::new(service, RequireToken::new(platform.tokens.clone()))
}

/// One service's HTTP routes and gRPC service, on a platform.
struct Parts<G> {
    http: Router,
    grpc: G,
}

fn user_parts(platform: &Platform) -> Parts<Guarded<UserServiceServer<UserGrpc>>> {
    let users = Arc::new(UserService::new(
        platform.store.clone(),
        platform.tokens.clone(),
    ));
    let http = user_http::routes(UserState {
        users: Arc::clone(&users),
        tokens: platform.tokens.clone(),
        login_limit: Arc::default(),
    });
    let grpc = guard(platform, UserGrpc::server(users, platform.tokens.clone()));
    Parts { http, grpc }
}

fn activity_parts(
    platform: &Platform,
    router: &mut mq::Router,
) -> Parts<Guarded<ActivityServiceServer<ActivityGrpc>>> {
    let activities = Arc::new(ActivityService::new(platform.store.clone()));
    crate::activities::group_link::register(
        router,
        Arc::clone(&platform.broker.subscriber),
        Arc::clone(&activities),
    );
    let http = activity_http::routes(ActivityState {
        activities: Arc::clone(&activities),
        tokens: platform.tokens.clone(),
    });
    let grpc = guard(platform, ActivityGrpc::server(activities));
    Parts { http, grpc }
}

/// Starts the user server: `/api/v1/users/...` over HTTP, `UserService` over gRPC.
pub async fn start_user_server(settings: Settings) -> Result<Running, StartError> {
    let broker = Broker::connect(&settings.broker).await?;
    user_server(settings, broker).await
}

/// The user server on a given broker.
pub async fn user_server(settings: Settings, broker: Broker) -> Result<Running, StartError> {
    let platform = Platform::start_with(settings, broker).await?;
    let parts = user_parts(&platform);
    Running::serve(platform, parts.http, Routes::new(parts.grpc)).await
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
    let mut router = event_router(&platform);
    let parts = activity_parts(&platform, &mut router);
    let background = Background {
        router: Some(router),
        engine: None,
    };
    Running::serve_with(platform, parts.http, Routes::new(parts.grpc), background).await
}

/// Starts the IM server: groups, messages and notifications over HTTP, the WebSocket
/// at `/ws`, `GroupService` over gRPC, and the IM event handlers.
pub async fn start_im_server(settings: Settings) -> Result<Running, StartError> {
    let broker = Broker::connect(&settings.broker).await?;
    im_server(settings, broker).await
}

/// The IM server on a given broker.
pub async fn im_server(settings: Settings, broker: Broker) -> Result<Running, StartError> {
    let platform = Platform::start_with(settings, broker).await?;
    let mut router = event_router(&platform);
    let users: Arc<dyn UserDirectory> = match &platform.settings.services.user_grpc {
        Some(url) => match GrpcUsers::new(url, platform.tokens.clone()) {
            Some(users) => Arc::new(users),
            None => {
                return Err(StartError::Config(crate::config::ConfigError::Invalid {
                    setting: "services.user_grpc",
                    reason: format!("{url:?} is not a URL"),
                }))
            }
        },
        None => {
            tracing::warn!("services.user_grpc is not set: member lists carry no names");
            Arc::new(NoUsers)
        }
    };
    let im = ImService::build(&platform, &mut router, users).await?;
    let background = Background {
        router: Some(router),
        engine: Some(im.engine),
    };
    let grpc = Routes::new(guard(&platform, im.grpc));
    Running::serve_with(platform, im.http, grpc, background).await
}

/// Starts everything in one process: every HTTP path on one port and every gRPC
/// service on another, over one database, one broker and one outbox forwarder. With
/// zero configuration that is a SQLite file and the in-memory broker.
pub async fn start_all_in_one(settings: Settings) -> Result<Running, StartError> {
    let broker = Broker::connect(&settings.broker).await?;
    all_in_one(settings, broker).await
}

/// The all-in-one server on a given broker.
pub async fn all_in_one(settings: Settings, broker: Broker) -> Result<Running, StartError> {
    let platform = Platform::start_with(settings, broker).await?;
    let mut router = event_router(&platform);
    let users = user_parts(&platform);
    let activities = activity_parts(&platform, &mut router);
    let directory = Arc::new(LocalUsers(Arc::new(UserService::new(
        platform.store.clone(),
        platform.tokens.clone(),
    ))));
    let im = ImService::build(&platform, &mut router, directory).await?;
    let http = users.http.merge(activities.http).merge(im.http);
    let grpc = Routes::new(users.grpc)
        .add_service(activities.grpc)
        .add_service(guard(&platform, im.grpc));
    let background = Background {
        router: Some(router),
        engine: Some(im.engine),
    };
    Running::serve_with(platform, http, grpc, background).await
}
