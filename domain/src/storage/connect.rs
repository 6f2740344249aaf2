//! Opening a [`Store`]: drivers, pool settings, per-connection pragmas, migrations.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Connection, Executor};
use tokio::sync::Notify;

use super::error::db_err;
use super::{Backend, Store};
use crate::error::DomainError;

/// A pooled connection idle this long is pinged before it is handed out (so after an
/// idle spell, a server restart costs no failed query; under load it costs one per
/// connection).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

#[cfg(feature = "sqlite")]
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
#[cfg(feature = "mysql")]
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/mysql");

/// How a [`Store`] connects.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Most pooled connections (default 10; always 1 for `sqlite::memory:`).
    pub max_connections: u32,
    /// How long to wait for a free connection (default 30 s).
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for another writer before failing (default 10 s).
    pub busy_timeout: Duration,
    /// Run the embedded migrations on connect (default true).
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(10),
            migrate: true,
        }
    }
}

fn install_drivers() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails only when the embedding program installed drivers itself: keep theirs.
        let installed = sqlx::any::install_drivers(&[
            #[cfg(feature = "sqlite")]
            sqlx::sqlite::any::DRIVER,
            #[cfg(feature = "mysql")]
            sqlx::mysql::any::DRIVER,
        ]);
        if installed.is_err() {
            tracing::debug!("sqlx Any drivers were already installed");
        }
    });
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl Store {
    /// Connects with [`StoreOptions::default`] and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self, DomainError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects with `options`.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, DomainError> {
        let backend = Backend::from_url(url)?;
        match backend {
            #[cfg(not(feature = "sqlite"))]
            Backend::Sqlite => {
                return Err(DomainError::InvalidConfig(
                    "built without the `sqlite` feature".into(),
                ))
            }
            #[cfg(not(feature = "mysql"))]
            Backend::MySql => {
                return Err(DomainError::InvalidConfig(
                    "built without the `mysql` feature".into(),
                ))
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
        install_drivers();
        let url = match url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => url.to_owned(),
        };
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(|e| DomainError::InvalidConfig(format!("database URL: {e}")))?;
        // sqlx pings every connection it hands out unless told otherwise: one extra
        // round trip per query (measured: 7,600 pings/s beside 5,100 statements/s
        // under chat load). Only a connection idle for a while is checked; a broken
        // one in use fails its query (callers retry) and is closed.
        let mut pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        if backend == Backend::Sqlite {
            let busy_ms = options.busy_timeout.as_millis();
            pool = pool.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
                        .await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
            if is_memory(&url) {
                // Every connection to `sqlite::memory:` would be a new database.
                pool = pool
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
        }
        let pool = pool.connect_with(connect).await.map_err(db_err)?;
        if backend == Backend::Sqlite && !is_memory(&url) {
            // Persistent per file: readers never block the writer and vice versa.
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(db_err)?;
        }
        let store = Self {
            pool,
            backend,
            new_rows: Arc::new(Notify::new()),
            hot: Arc::new(super::hot::HotLanes::for_backend(backend)),
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DomainError> {
        let migrator: &Migrator = match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            #[cfg(feature = "mysql")]
            Backend::MySql => &MYSQL_MIGRATIONS,
            #[allow(unreachable_patterns)]
            _ => return Err(DomainError::internal("backend not compiled in")),
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => DomainError::Storage(Box::new(other)),
        })
    }
}
