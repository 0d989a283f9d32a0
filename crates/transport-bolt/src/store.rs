//! The redb file: three tables, the group commit, trimming, and the reads of history.
//!
//! - `<bucket>`: sequence number (u64, ordered numerically) -> the update ([`crate::format`]).
//! - `<bucket>.ids`: event id -> every kept sequence number carrying it (a multimap whose
//!   values are sorted), so "the first kept occurrence of an id" is one B-tree lookup, and
//!   trimming an entry removes exactly its own index entry: a duplicate id then resolves to
//!   its next kept occurrence, and an id with none left disappears.
//! - `<bucket>.meta`: the last sequence number and id ever appended, so the sequence goes on
//!   after a restart even when every entry has expired.
//!
//! Everything here blocks: it runs on the writer thread or in `spawn_blocking`.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use quicksilver_hub::Update;
use redb::{
    Database, DatabaseError, Durability, MultimapTableDefinition, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};

use crate::error::BoltError;
use crate::format;
use crate::options::BoltOptions;

/// Page cache of redb (its default, 1 GiB, is far more than a history needs).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

const LAST_SEQ: &str = "last_seq";
const LAST_ID: &str = "last_id";

/// What the writer knows about the log between commits.
#[derive(Debug, Clone, Default)]
pub struct LogState {
    /// The sequence number of the last entry ever appended (0: none).
    pub last_seq: u64,
    /// Its id.
    pub last_id: Option<String>,
    /// Entries currently kept.
    pub count: u64,
}

/// An open history file.
pub struct Store {
    db: Database,
    log: String,
    ids: String,
    meta: String,
    size: u64,
    max_age_ms: Option<u64>,
}

/// One decoded entry of a history read.
pub type Entry = (u64, Result<Arc<Update>, BoltError>);

impl Store {
    fn log(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.log)
    }

    fn ids(&self) -> MultimapTableDefinition<'_, &'static str, u64> {
        MultimapTableDefinition::new(&self.ids)
    }

    fn meta(&self) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(&self.meta)
    }

    /// Opens (or creates) the file, refusing one another process holds or one that is not
    /// ours, and reads where the log ends.
    pub fn open(opts: &BoltOptions) -> Result<(Store, LogState), BoltError> {
        let path = opts.path.as_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BoltError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        check_format(path)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                    BoltError::AlreadyOpen {
                        path: path.to_path_buf(),
                    }
                }
                DatabaseError::Storage(redb::StorageError::Io(source)) => BoltError::Io {
                    path: path.to_path_buf(),
                    source,
                },
                DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
                    BoltError::NotOurs {
                        path: path.to_path_buf(),
                        reason,
                    }
                }
                other => BoltError::Database(format!("{}: {other}", path.display())),
            })?;
        let store = Store {
            db,
            log: opts.bucket_name.clone(),
            ids: format!("{}.ids", opts.bucket_name),
            meta: format!("{}.meta", opts.bucket_name),
            size: opts.size,
            max_age_ms: opts
                .max_age
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        let state = store.init()?;
        Ok((store, state))
    }

    /// Creates the tables if needed and reads the state of the log.
    fn init(&self) -> Result<LogState, BoltError> {
        let txn = self.db.begin_write()?;
        let state = {
            let log = txn.open_table(self.log())?;
            txn.open_multimap_table(self.ids())?;
            let meta = txn.open_table(self.meta())?;
            let mut state = LogState {
                count: log.len()?,
                ..LogState::default()
            };
            if let Some(v) = meta.get(LAST_SEQ)? {
                let bytes: [u8; 8] = v.value().try_into().map_err(|_| BoltError::Corrupt {
                    seq: 0,
                    reason: "invalid last sequence number in the metadata".into(),
                })?;
                state.last_seq = u64::from_be_bytes(bytes);
            }
            if let Some(v) = meta.get(LAST_ID)? {
                state.last_id = Some(String::from_utf8_lossy(v.value()).into_owned());
            }
            // The metadata is written in the same transaction as the entries; this only
            // matters for a file whose metadata was lost.
            if let Some((k, v)) = log.last()?
                && k.value() > state.last_seq
            {
                state.last_seq = k.value();
                state.last_id = format::header(k.value(), v.value())
                    .ok()
                    .map(|h| h.id.to_owned());
            }
            state
        };
        txn.commit()?;
        Ok(state)
    }

    /// Appends encoded updates in one transaction, trims, and commits with fsync. Returns the
    /// state after the commit; `state` is the one before (left untouched on error).
    pub fn commit_batch(
        &self,
        state: &LogState,
        batch: &[(&str, &[u8])],
        now_ms: u64,
    ) -> Result<LogState, BoltError> {
        let mut next = state.clone();
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut log = txn.open_table(self.log())?;
            let mut ids = txn.open_multimap_table(self.ids())?;
            for (id, bytes) in batch {
                next.last_seq += 1;
                log.insert(next.last_seq, *bytes)?;
                ids.insert(*id, next.last_seq)?;
                next.count += 1;
            }
            if let Some((id, _)) = batch.last() {
                next.last_id = Some((*id).to_owned());
            }
            next.count = self.trim(&mut log, &mut ids, next.count, now_ms)?;
            let mut meta = txn.open_table(self.meta())?;
            meta.insert(LAST_SEQ, next.last_seq.to_be_bytes().as_slice())?;
            if let Some(id) = &next.last_id {
                meta.insert(LAST_ID, id.as_bytes())?;
            }
        }
        txn.commit()?;
        Ok(next)
    }

    /// Removes the oldest entries while more than `size` are kept or the oldest is older than
    /// `max_age`; returns the new count. Deterministic: after every commit the log holds at
    /// most `size` entries, none expired.
    fn trim(
        &self,
        log: &mut redb::Table<'_, u64, &'static [u8]>,
        ids: &mut redb::MultimapTable<'_, &'static str, u64>,
        mut count: u64,
        now_ms: u64,
    ) -> Result<u64, BoltError> {
        let cutoff = self.max_age_ms.map(|age| now_ms.saturating_sub(age));
        loop {
            let over = self.size > 0 && count > self.size;
            if !over {
                let Some(cutoff) = cutoff else { break };
                let expired = match log.first()? {
                    // An entry whose header can't be read has no age: it is worthless, drop it.
                    Some((k, v)) => format::header(k.value(), v.value())
                        .map(|h| h.millis < cutoff)
                        .unwrap_or(true),
                    None => false,
                };
                if !expired {
                    break;
                }
            }
            let Some((k, v)) = log.pop_first()? else {
                break;
            };
            let seq = k.value();
            match format::header(seq, v.value()) {
                Ok(h) => {
                    ids.remove(h.id, seq)?;
                }
                // Its index entry (if any) stays behind; lookups ignore sequence numbers
                // below the first kept one.
                Err(e) => tracing::warn!(error = %e, "trimming a corrupt history entry"),
            }
            count = count.saturating_sub(1);
        }
        Ok(count)
    }

    /// Whether the oldest entry has expired (a cheap read, to decide on an idle sweep).
    pub fn has_expired(&self, now_ms: u64) -> Result<bool, BoltError> {
        let Some(age) = self.max_age_ms else {
            return Ok(false);
        };
        let txn = self.db.begin_read()?;
        let log = txn.open_table(self.log())?;
        Ok(match log.first()? {
            Some((k, v)) => format::header(k.value(), v.value())
                .map(|h| h.millis < now_ms.saturating_sub(age))
                .unwrap_or(true),
            None => false,
        })
    }

    /// Where a replay after `after_id` starts: `Some(seq)` to read the entries after `seq`
    /// (0 for `earliest`), `None` when the id is not kept. One B-tree lookup per call.
    pub fn resolve(&self, after_id: &str) -> Result<Option<u64>, BoltError> {
        if after_id == quicksilver_hub::EARLIEST {
            return Ok(Some(0));
        }
        let txn = self.db.begin_read()?;
        let log = txn.open_table(self.log())?;
        let Some(first_kept) = log.first()?.map(|(k, _)| k.value()) else {
            return Ok(None);
        };
        let ids = txn.open_multimap_table(self.ids())?;
        for seq in ids.get(after_id)? {
            let seq = seq?.value();
            // Below the first kept entry: left behind by a corrupt entry's trimming.
            if seq >= first_kept {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    /// Up to `max` entries after `after`, up to and including `until`, in one short read
    /// transaction (a long one would keep freed pages from being reused).
    pub fn read_batch(&self, after: u64, until: u64, max: usize) -> Result<Vec<Entry>, BoltError> {
        let mut out = Vec::new();
        if after >= until {
            return Ok(out);
        }
        let txn = self.db.begin_read()?;
        let log = txn.open_table(self.log())?;
        for entry in log.range(after + 1..=until)?.take(max) {
            let (k, v) = entry?;
            let seq = k.value();
            out.push((seq, format::decode(seq, v.value())));
        }
        Ok(out)
    }

    /// Writes raw bytes under a sequence number, bypassing the format (tests of corruption).
    #[doc(hidden)]
    pub fn put_raw(&self, seq: u64, bytes: &[u8]) -> Result<(), BoltError> {
        let txn = self.db.begin_write()?;
        txn.open_table(self.log())?.insert(seq, bytes)?;
        txn.commit()?;
        Ok(())
    }

    /// The number of entries and the sequence numbers of the first and last, plus the number
    /// of index entries (tests and diagnostics).
    pub fn stats(&self) -> Result<Stats, BoltError> {
        let txn = self.db.begin_read()?;
        let log = txn.open_table(self.log())?;
        let ids = txn.open_multimap_table(self.ids())?;
        Ok(Stats {
            count: log.len()?,
            first: log.first()?.map(|(k, _)| k.value()),
            last: log.last()?.map(|(k, _)| k.value()),
            index_entries: ids.len()?,
        })
    }
}

/// See [`Store::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub count: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub index_entries: u64,
}

/// Refuses an existing, non-empty file that is not a redb database before redb sees it, with
/// a message that names the likely cause (the reference hub's BoltDB file).
fn check_format(path: &Path) -> Result<(), BoltError> {
    const REDB_MAGIC: &[u8] = b"redb\x1a\x0a\xa9\x0d\x0a";
    // bbolt's meta page: a 16-byte page header, then the magic 0xED0CDAED (little-endian).
    const BOLT_MAGIC: &[u8] = &[0xed, 0xda, 0x0c, 0xed];
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BoltError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut head = Vec::with_capacity(32);
    (&mut file)
        .take(32)
        .read_to_end(&mut head)
        .map_err(|source| BoltError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if head.starts_with(REDB_MAGIC) || REDB_MAGIC.starts_with(&head) {
        return Ok(());
    }
    let reason = if head.get(16..20) == Some(BOLT_MAGIC) {
        "it is a BoltDB file, probably the reference hub's".to_owned()
    } else {
        "unknown file format".to_owned()
    };
    Err(BoltError::NotOurs {
        path: path.to_path_buf(),
        reason,
    })
}
