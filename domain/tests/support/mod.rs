//! Opens a fresh store on SQLite (a temporary file) or on a fresh MariaDB database
//! (`DATABASE_URL_MYSQL`, default the local server), so the same test bodies run on both.
#![allow(dead_code)]

use domain::events::OutboxEvent;
use domain::repository::OutboxRepository;
use domain::{OutboxRecord, Store};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Db {
    Sqlite,
    MariaDb,
}

/// The MariaDB server, without a database part.
pub(crate) fn mysql_base() -> String {
    std::env::var("DATABASE_URL_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

async fn admin(sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(&mysql_base()).await?;
    sqlx::query(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Kills every server connection to the test's MariaDB database (as a server restart
/// or a network cut would); nothing on SQLite.
pub(crate) async fn kill_connections_of(t: &TestDb) -> anyhow::Result<()> {
    use sqlx::{Connection, Row};
    let Some(name) = &t.mysql_db else {
        return Ok(());
    };
    let mut conn = sqlx::MySqlConnection::connect(&mysql_base()).await?;
    let ids = sqlx::query("SELECT id FROM information_schema.processlist WHERE db = ?")
        .bind(name)
        .fetch_all(&mut conn)
        .await?;
    for row in ids {
        let id: i64 = row.try_get("id")?;
        // A connection may end by itself meanwhile.
        let _ = sqlx::query(&format!("KILL {id}")).execute(&mut conn).await;
    }
    conn.close().await?;
    Ok(())
}

/// A migrated store on its own database.
pub(crate) struct TestDb {
    pub(crate) store: Store,
    mysql_db: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub(crate) async fn open(db: Db) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (url, mysql_db) = match db {
            Db::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                None,
            ),
            Db::MariaDb => {
                let name = format!("t_dom_{}", uuid::Uuid::now_v7().simple());
                admin(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).await?;
                (format!("{}/{name}", mysql_base()), Some(name))
            }
        };
        let store = Store::connect(&url).await?;
        Ok(Self {
            store,
            mysql_db,
            _dir: dir,
        })
    }

    /// Closes the store and drops the MariaDB database.
    pub(crate) async fn finish(self) -> anyhow::Result<()> {
        self.store.close().await;
        if let Some(name) = &self.mysql_db {
            admin(&format!("DROP DATABASE {name}")).await?;
        }
        Ok(())
    }

    /// Every outbox row written so far, in commit order.
    pub(crate) async fn outbox(&self) -> anyhow::Result<Vec<OutboxRecord>> {
        Ok(self.store.unpublished(10_000).await?)
    }

    /// The outbox rows of `topic`, decoded as `E`.
    pub(crate) async fn events<E: domain::events::Event>(&self) -> anyhow::Result<Vec<E>> {
        let mut out = Vec::new();
        for r in self.outbox().await? {
            if r.topic == E::TOPIC {
                let event = OutboxEvent {
                    message_id: r.message_id,
                    topic: r.topic,
                    key: r.key,
                    payload: r.payload,
                    metadata: r.metadata,
                };
                out.push(event.decode::<E>()?);
            }
        }
        Ok(out)
    }
}

/// Runs `body` on SQLite and on MariaDB.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$body(super::support::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mariadb() -> anyhow::Result<()> {
                super::$body(super::support::Db::MariaDb).await
            }
        }
    };
}
