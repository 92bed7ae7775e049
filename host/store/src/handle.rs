//! `DbHandle`: the database file, reopened after an I/O failure.
//!
//! After a failed write (a full disk, say) redb refuses every later operation until the database
//! is opened again. Every store operation goes through [`DbHandle::with`]: an I/O failure drops
//! the handle's database, and the next operation opens the file again, which also recovers it to
//! its last committed state. So when space returns the host carries on by itself, and nothing that
//! was acknowledged is lost.

use super::StoreError;
use redb::{
    Database, Key, ReadOnlyTable, ReadTransaction, ReadableDatabase, TableDefinition, Value,
    WriteTransaction,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A database that can be reopened.
pub struct DbHandle {
    path: PathBuf,
    current: Mutex<Option<Arc<Database>>>,
}

impl DbHandle {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| StoreError::Db(e.into()))?;
        Ok(Self {
            path: path.to_owned(),
            current: Mutex::new(Some(Arc::new(db))),
        })
    }

    /// The database, opening it again if an earlier failure dropped it.
    pub fn get(&self) -> Result<Arc<Database>, StoreError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = current.as_ref() {
            return Ok(db.clone());
        }
        // Fails while an operation of the dropped database is still finishing; the next call
        // tries again.
        let db = Arc::new(Database::create(&self.path).map_err(|e| StoreError::Db(e.into()))?);
        tracing::warn!(path = %self.path.display(), "state database reopened after an I/O failure");
        *current = Some(db.clone());
        Ok(db)
    }

    /// Runs `f` on the database; an I/O failure drops it so that the next call reopens it.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.get()?;
        let result = f(&db);
        drop(db);
        if let Err(error) = &result
            && error.is_io()
        {
            tracing::error!(%error, "state database I/O failure; it will be reopened");
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            current.take();
        }
        result
    }

    /// Runs `read` on a fresh snapshot (a read transaction: consistent, and never blocked by a
    /// writer).
    pub fn read<T>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|database| read(&db(database.begin_read())?))
    }

    /// Runs `read` on one table of a fresh snapshot.
    pub fn read_table<K: Key + 'static, V: Value + 'static, T>(
        &self,
        table: TableDefinition<K, V>,
        read: impl FnOnce(&ReadOnlyTable<K, V>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read(|txn| read(&db(txn.open_table(table))?))
    }

    /// Runs `write` in one write transaction and commits it durably; when `write` fails,
    /// nothing of it is kept.
    pub fn write<T>(
        &self,
        write: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|database| {
            let txn = db(database.begin_write())?;
            let value = write(&txn)?;
            db(txn.commit())?;
            Ok(value)
        })
    }
}

/// redb's errors as the store's.
pub(crate) fn db<T, E: Into<redb::Error>>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Db(e.into()))
}
