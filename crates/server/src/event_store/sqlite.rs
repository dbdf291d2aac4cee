//! The embedded backend: one SQLite file in WAL mode (`synchronous=NORMAL`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection};

use super::StoredEvent;
use super::{EventStore, Row, MIGRATIONS};

/// Events in a SQLite file.
pub(crate) struct SqliteStore {
    path: PathBuf,
    pub(super) conn: Connection,
}

const COLUMNS: &str = "id, ts_ms, call, call_seq, queue, agent, kind, data, tenant";

impl SqliteStore {
    /// Opens (creating) the file and applies pending migrations.
    pub(crate) fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut s = SqliteStore {
            path: path.to_path_buf(),
            conn,
        };
        s.migrate()
            .with_context(|| format!("migrating {}", path.display()))?;
        Ok(s)
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY, what TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
        )?;
        let current = self.schema_version()?;
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            let txn = self.conn.transaction()?;
            txn.execute_batch(m.sqlite)
                .with_context(|| format!("migration {} ({})", m.version, m.what))?;
            txn.execute(
                "INSERT INTO schema_migrations (version, what, applied_ms) VALUES (?1, ?2, ?3)",
                params![m.version, m.what, super::now_ms()],
            )?;
            txn.commit()?;
        }
        Ok(())
    }

    fn query(&self, sql: &str, p: impl rusqlite::Params) -> anyhow::Result<Vec<StoredEvent>> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(p, |r| {
            let data: String = r.get(7)?;
            Ok(StoredEvent::new(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            )
            .with_tenant(r.get(8)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

impl EventStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn schema_version(&mut self) -> anyhow::Result<u32> {
        let v: Option<u32> =
            self.conn
                .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                    r.get(0)
                })?;
        Ok(v.unwrap_or(0))
    }

    fn append_batch(&mut self, rows: &[Row]) -> anyhow::Result<Vec<i64>> {
        let txn = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(rows.len());
        {
            let mut st = txn.prepare_cached(
                "INSERT INTO events (ts_ms, call, call_seq, queue, agent, kind, data, schema, tenant)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for r in rows {
                st.execute(params![
                    r.ts_ms, r.call, r.call_seq, r.queue, r.agent, r.kind, r.data, r.schema,
                    r.tenant
                ])?;
                ids.push(txn.last_insert_rowid());
            }
            let mut open =
                txn.prepare_cached("INSERT OR IGNORE INTO open_calls (call) VALUES (?1)")?;
            let mut close = txn.prepare_cached("DELETE FROM open_calls WHERE call = ?1")?;
            for r in rows {
                match super::marker_change(r) {
                    Some(true) => open.execute(params![r.call])?,
                    Some(false) => close.execute(params![r.call])?,
                    None => 0,
                };
            }
        }
        txn.commit()?;
        Ok(ids)
    }

    fn read_range(
        &mut self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY id"),
            params![from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX)],
        )
    }

    fn read_page(
        &mut self,
        from_ms: i64,
        to_ms: i64,
        after_id: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2 AND id > ?3 \
                 ORDER BY id LIMIT ?4"
            ),
            params![from_ms, to_ms, after_id, limit],
        )
    }

    fn read_kind_prefix(&mut self, prefix: &str) -> anyhow::Result<Vec<StoredEvent>> {
        // `substr` rather than LIKE: the prefix's own `_` and `%` are not patterns.
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM events WHERE substr(kind, 1, length(?1)) = ?1 ORDER BY id"
            ),
            params![prefix],
        )
    }

    fn read_call(&mut self, call: &str) -> anyhow::Result<Vec<StoredEvent>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE call = ?1 ORDER BY id"),
            params![call],
        )
    }

    fn calls_from_number(&mut self, number: &str, limit: u32) -> anyhow::Result<Vec<String>> {
        // The expression and the WHERE term are the index's own (migration 4).
        let mut st = self.conn.prepare_cached(
            "SELECT call FROM events WHERE kind = 'call.start' \
             AND json_extract(data, '$.caller') = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![number, limit], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn read_after(&mut self, after_id: i64, limit: usize) -> anyhow::Result<Vec<StoredEvent>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"),
            params![after_id, i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    fn last_id(&mut self) -> anyhow::Result<i64> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))?;
        Ok(v.unwrap_or(0))
    }

    fn open_call_ids(&mut self) -> anyhow::Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT call FROM open_calls ORDER BY call")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn max_call_seqs(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT call, MAX(call_seq) FROM events WHERE call != '' GROUP BY call")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_store_keeps_the_contract() {
        let dir = std::env::temp_dir().join(format!("sb-sqlite-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        super::super::tests::store_contract(&mut s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn open_calls_are_found_among_100000_ended_ones() {
        let dir = std::env::temp_dir().join(format!("sb-sqlite-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        super::super::tests::open_calls_among_many_ended(&mut s, 100_000);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_log_from_before_migrations_is_brought_up_to_date() {
        let dir = std::env::temp_dir().join(format!("sb-sqlite-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0].sqlite).unwrap();
            c.execute(
                r#"INSERT INTO events (ts_ms, call, call_seq, queue, agent, kind, data)
                 VALUES (1, 'c', 1, '', '', 'call.start', '{"caller":"1","dnis":"2"}')"#,
                [],
            )
            .unwrap();
            // A call that ended before the upgrade is not marked open by it.
            c.execute_batch(
                r#"INSERT INTO events (ts_ms, call, call_seq, queue, agent, kind, data) VALUES
                 (2, 'done', 1, '', '', 'call.start', '{"caller":"1","dnis":"2"}'),
                 (3, 'done', 2, '', '', 'call.end', '{"end_reason":"caller_hangup"}')"#,
            )
            .unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let schema: i64 = s
            .conn
            .query_row("SELECT schema FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(schema, 1);
        let old = s.read_call("c").unwrap();
        assert_eq!(old.len(), 1);
        // A row from before tenants were logged reads as untenanted and still parses.
        assert_eq!(old[0].tenant, "");
        assert!(old[0].event.is_some());
        assert!(
            s.calls_from_number("x", 5).unwrap().is_empty(),
            "indexed query on an old log"
        );
        assert_eq!(
            s.open_call_ids().unwrap(),
            ["c"],
            "migration 5 marks the calls the old log left open, not the ended ones"
        );
        drop(s);
        // Opening again applies nothing.
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
