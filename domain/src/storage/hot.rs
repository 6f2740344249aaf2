//! Dedicated connections for the hot paths on MySQL: the chat pipeline's per-send and
//! per-batch statements.
//!
//! sqlx 0.8's pool pings every connection it takes back (`return_to_pool` in
//! sqlx-core 0.8.6 always sends `COM_PING`): one extra round trip per query, measured
//! here as 3,800 pings/s beside 5,000 statements/s under chat load, a third of the
//! database's work. These few connections are taken out of the pool once
//! (`PoolConnection::detach`) and reused without that ping. A use that fails or is
//! cancelled drops its connection (it may be mid-protocol); the next use opens another.
//! On SQLite the ping is an in-process call, and `sqlite::memory:` must keep its only
//! connection in the pool, so the pool is used as it is.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{Mutex, MutexGuard};

use super::error::db_err;
use super::{Backend, Store};
use crate::error::DomainError;

/// Dedicated connections kept for the hot paths (MySQL).
const HOT_CONNECTIONS: usize = 4;

/// The slots of the dedicated connections (none on SQLite).
#[derive(Debug, Default)]
pub(crate) struct HotLanes {
    slots: Vec<Mutex<Option<AnyConnection>>>,
    next: AtomicUsize,
}

impl HotLanes {
    pub(crate) fn for_backend(backend: Backend) -> Self {
        let count = match backend {
            Backend::MySql => HOT_CONNECTIONS,
            Backend::Sqlite => 0,
        };
        Self {
            slots: (0..count).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }
}

impl HotLanes {
    /// Closes the dedicated connections (waiting for those in use).
    pub(crate) async fn close(&self) {
        for slot in &self.slots {
            if let Some(conn) = slot.lock().await.take() {
                let _ = sqlx::Connection::close(conn).await;
            }
        }
    }
}

/// A connection for one hot-path use: call [`Hot::keep`] once it succeeded.
pub(crate) enum Hot<'a> {
    /// A dedicated connection, taken out of its slot.
    Dedicated {
        slot: MutexGuard<'a, Option<AnyConnection>>,
        conn: Box<AnyConnection>,
    },
    /// A pooled connection (SQLite).
    Pooled(PoolConnection<Any>),
}

impl Hot<'_> {
    /// The use succeeded: the connection goes back to its slot (a pooled one back to
    /// the pool). Dropping a `Hot` without this closes a dedicated connection.
    pub(crate) fn keep(self) {
        if let Hot::Dedicated { mut slot, conn } = self {
            *slot = Some(*conn);
        }
    }
}

impl Deref for Hot<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Hot::Dedicated { conn, .. } => conn,
            Hot::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for Hot<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Hot::Dedicated { conn, .. } => conn,
            Hot::Pooled(conn) => conn,
        }
    }
}

impl Store {
    /// A connection for a hot-path statement or transaction: a free dedicated one
    /// (waiting for one when all are busy), or a pooled one on SQLite.
    pub(crate) async fn hot(&self) -> Result<Hot<'_>, DomainError> {
        let slots = &self.hot.slots;
        if slots.is_empty() {
            return Ok(Hot::Pooled(self.pool.acquire().await.map_err(db_err)?));
        }
        let start = self.hot.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..slots.len()).find_map(|i| slots[(start + i) % slots.len()].try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => slots[start % slots.len()].lock().await,
        };
        let conn = match slot.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await.map_err(db_err)?.detach(),
        };
        Ok(Hot::Dedicated {
            slot,
            conn: Box::new(conn),
        })
    }
}
