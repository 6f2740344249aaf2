//! The IM service: groups, chat and notifications, wired from `domain`, `im-core` and
//! `mq`.
//!
//! A chat message goes: WebSocket `send` -> the engine's checks (membership, sizes) ->
//! [`pipeline::BrokerPipeline`] (group open, text, per-user rate) -> `im.message.send`
//! keyed by group -> [`persister::Persister`] (seq from the database, batched writes,
//! dedup by client message id) -> `im.message.stored` -> [`pusher::Pusher`] on every
//! node (in seq order to the online members; the sender's `send_ok`).

pub mod auth;
pub mod directory;
pub mod groups;
pub mod http;
pub mod membership;
pub mod notifications;
pub mod persister;
pub mod pipeline;
pub mod presence;
pub mod pusher;
pub mod route;
pub mod store;
pub mod waiters;
pub mod wire;
pub mod ws;

use std::sync::Arc;

use domain::service::{GroupService, NotificationService};
use im_core::{Engine, EngineConfig};
use mq::Router;

use self::auth::JwtAuth;
use self::directory::UserDirectory;
use self::membership::GroupMembership;
use self::notifications::{Notifier, UnreadOnConnect};
use self::persister::Persister;
use self::pipeline::{BrokerPipeline, ChatLimits};
use self::presence::{Hooks, PresenceHook, RedisPresence};
use self::pusher::Pusher;
use self::route::RouteStored;
use self::store::SqlMessages;
use self::waiters::Waiters;
use crate::grpc::im::GroupGrpc;
use crate::grpc::pb::im::group_service_server::GroupServiceServer;
use crate::server::{Platform, StartError};

/// Lanes (partitions) each IM handler works on at once; each lane stays in order.
const LANES: usize = 16;

/// The IM service's parts on a platform: its routes, gRPC service and engine; its
/// handlers are registered on the router passed to [`ImService::build`].
#[derive(Debug)]
pub struct ImService {
    /// HTTP routes, `/ws` included.
    pub http: axum::Router,
    /// The gRPC service.
    pub grpc: GroupServiceServer<GroupGrpc>,
    /// The real-time engine (shut down with the server).
    pub engine: Engine,
}

impl ImService {
    /// Builds the service on `platform` and registers its handlers on `router`.
    /// `users` answers who the members are (names in the member lists).
    pub async fn build(
        platform: &Platform,
        router: &mut Router,
        users: Arc<dyn UserDirectory>,
    ) -> Result<Self, StartError> {
        let settings = &platform.settings.im;
        let groups = Arc::new(GroupService::new(platform.store.clone()));
        let notifications = Arc::new(NotificationService::new(platform.store.clone()));
        let messages = Arc::new(SqlMessages::new(platform.store.clone()));
        let waiters = Waiters::default();
        let limits = ChatLimits {
            max_text_chars: settings.max_text_chars,
            sends_per_second: settings.sends_per_second,
            send_burst: settings.send_burst,
            ..ChatLimits::default()
        };
        let pipeline = BrokerPipeline::new(
            Arc::clone(&platform.broker.publisher),
            Arc::clone(&groups),
            messages.as_ref().clone(),
            waiters.clone(),
            limits,
            &settings.node_id,
        );
        let presence = match &settings.presence_redis_url {
            Some(url) => Some(
                RedisPresence::connect(url, &settings.presence_key_prefix, &settings.node_id)
                    .await?,
            ),
            None => None,
        };
        let membership = GroupMembership::new(Arc::clone(&groups));
        let mut hooks: Vec<Arc<dyn im_core::pipeline::SessionHook>> =
            vec![Arc::new(UnreadOnConnect::new(Arc::clone(&notifications)))];
        if let Some(p) = &presence {
            hooks.push(Arc::new(PresenceHook(p.clone())));
        }
        let engine = Engine::builder(
            EngineConfig::default(),
            messages.clone(),
            Arc::new(membership.clone()),
            Arc::new(JwtAuth::new(platform.tokens.clone())),
        )
        .pipeline(Arc::new(pipeline))
        .session_hook(Arc::new(Hooks(hooks)))
        .build();

        let subscriber = Arc::clone(&platform.broker.subscriber);
        let publisher = Arc::clone(&platform.broker.publisher);
        router
            .batch_handler(
                "im.persister",
                wire::SEND_TOPIC,
                Arc::clone(&subscriber),
                wire::STORED_TOPIC,
                publisher,
                Persister::new(messages.as_ref().clone()),
            )
            .concurrency(LANES);
        // Without presence every node reads every stored message; with it, the router
        // forwards each to the nodes that need it, and each node reads its own topic.
        let routing = presence
            .clone()
            .filter(|_| settings.push_routing == crate::config::PushRouting::Presence);
        let push_topic = match routing {
            None => wire::STORED_TOPIC.to_owned(),
            Some(presence) => {
                router
                    .batch_consumer(
                        "im.route",
                        wire::STORED_TOPIC,
                        Arc::clone(&subscriber),
                        RouteStored::new(
                            membership.clone(),
                            presence,
                            Arc::clone(&platform.broker.publisher),
                        ),
                    )
                    .concurrency(LANES);
                wire::node_topic(&settings.node_id)
            }
        };
        router
            .batch_consumer(
                format!("im.push.{}", settings.node_id),
                push_topic,
                Arc::clone(&subscriber),
                Pusher::new(engine.clone(), membership, waiters),
            )
            .concurrency(LANES);
        groups::register(router, Arc::clone(&subscriber), Arc::clone(&groups));
        Notifier::new(Arc::clone(&notifications), Arc::clone(&groups)).register(
            router,
            subscriber,
            Arc::clone(&platform.broker.publisher),
            engine.clone(),
            &settings.node_id,
            presence,
        );

        let http = http::routes(http::ImState {
            groups: Arc::clone(&groups),
            notifications,
            store: platform.store.clone(),
            engine: engine.clone(),
            tokens: platform.tokens.clone(),
            users,
        });
        Ok(Self {
            http,
            grpc: GroupGrpc::server(groups),
            engine,
        })
    }
}
