//! The PostgreSQL backend, on the synchronous `postgres` client (the event-log writer and
//! the exporters are plain threads; see docs/decisions/0012-event-store-seam.md).

use std::collections::HashMap;

use anyhow::Context;
use postgres::{Client, NoTls};

use super::StoredEvent;
use super::{redact_url, EventStore, Row, MIGRATIONS};

/// Events in a PostgreSQL database.
pub(crate) struct PostgresStore {
    url: String,
    client: Client,
}

const COLUMNS: &str = "id, ts_ms, call, call_seq, queue, agent, kind, data, tenant";

/// Rows per INSERT statement (parameters stay far below PostgreSQL's 65535 limit).
const ROWS_PER_INSERT: usize = 256;

impl PostgresStore {
    /// Connects and applies pending migrations (under an advisory lock, so two servers
    /// starting on one database do not race).
    pub(crate) fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        let shown = redact_url(url);
        let client = Client::connect(url, NoTls)
            .with_context(|| format!("connecting to the event store {shown}"))?;
        let mut s = PostgresStore { url: shown, client };
        s.migrate()
            .with_context(|| format!("migrating the event store {}", s.url))?;
        Ok(s)
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        let mut txn = self.client.transaction()?;
        // Any fixed key: it serialises migrations of this database's event store.
        txn.execute("SELECT pg_advisory_xact_lock(5313042)", &[])?;
        txn.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY, what TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
        )?;
        let current: Option<i32> = txn
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])?
            .get(0);
        let current = current.unwrap_or(0).max(0) as u32;
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            txn.batch_execute(m.postgres)
                .with_context(|| format!("migration {} ({})", m.version, m.what))?;
            txn.execute(
                "INSERT INTO schema_migrations (version, what, applied_ms) VALUES ($1, $2, $3)",
                &[&(m.version as i32), &m.what, &super::now_ms()],
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    fn query(
        &mut self,
        sql: &str,
        p: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let rows = self.client.query(sql, p)?;
        Ok(rows
            .iter()
            .map(|r| {
                let data: String = r.get(7);
                StoredEvent::new(
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                )
                .with_tenant(r.get(8))
            })
            .collect())
    }
}

impl EventStore for PostgresStore {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn schema_version(&mut self) -> anyhow::Result<u32> {
        let v: Option<i32> = self
            .client
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])?
            .get(0);
        Ok(v.unwrap_or(0).max(0) as u32)
    }

    fn append_batch(&mut self, rows: &[Row]) -> anyhow::Result<Vec<i64>> {
        let mut txn = self.client.transaction()?;
        let mut ids = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO events (ts_ms, call, call_seq, queue, agent, kind, data, schema, tenant) VALUES ",
            );
            let schemas: Vec<i32> = chunk.iter().map(|r| r.schema as i32).collect();
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                Vec::with_capacity(chunk.len() * 9);
            for (i, (r, schema)) in chunk.iter().zip(&schemas).enumerate() {
                let b = i * 9;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${},${},${},${},${},${},${},${},${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                ));
                params.extend_from_slice(&[
                    &r.ts_ms,
                    &r.call,
                    &r.call_seq,
                    &r.queue,
                    &r.agent,
                    &r.kind,
                    &r.data,
                    schema,
                    &r.tenant,
                ]);
            }
            sql.push_str(" RETURNING id");
            // The sequence numbers the VALUES rows in order; sorting makes that explicit.
            let mut chunk_ids: Vec<i64> =
                txn.query(&sql, &params)?.iter().map(|r| r.get(0)).collect();
            chunk_ids.sort_unstable();
            ids.extend(chunk_ids);
        }
        // Each call's last marker change in the batch decides (a call that starts and
        // ends in one batch is not left open): two statements per batch, not per row.
        let mut last: HashMap<&str, bool> = HashMap::new();
        for r in rows {
            if let Some(open) = super::marker_change(r) {
                last.insert(r.call.as_str(), open);
            }
        }
        let (mut opened, mut closed): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        for (call, open) in last {
            if open {
                opened.push(call);
            } else {
                closed.push(call);
            }
        }
        if !closed.is_empty() {
            txn.execute("DELETE FROM open_calls WHERE call = ANY($1)", &[&closed])?;
        }
        if !opened.is_empty() {
            txn.execute(
                "INSERT INTO open_calls (call) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                &[&opened],
            )?;
        }
        txn.commit()?;
        Ok(ids)
    }

    fn read_range(
        &mut self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let (from, to) = (from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX));
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY id"),
            &[&from, &to],
        )
    }

    fn read_page(
        &mut self,
        from_ms: i64,
        to_ms: i64,
        after_id: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let limit = i64::from(limit);
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM events WHERE ts_ms >= $1 AND ts_ms < $2 AND id > $3 \
                 ORDER BY id LIMIT $4"
            ),
            &[&from_ms, &to_ms, &after_id, &limit],
        )
    }

    fn read_kind_prefix(&mut self, prefix: &str) -> anyhow::Result<Vec<StoredEvent>> {
        // `left` rather than LIKE: the prefix's own `_` and `%` are not patterns.
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE left(kind, length($1)) = $1 ORDER BY id"),
            &[&prefix],
        )
    }

    fn read_call(&mut self, call: &str) -> anyhow::Result<Vec<StoredEvent>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE call = $1 ORDER BY id"),
            &[&call],
        )
    }

    fn calls_from_number(&mut self, number: &str, limit: u32) -> anyhow::Result<Vec<String>> {
        // The expression and the WHERE term are the index's own (migration 4).
        let limit = i64::from(limit);
        let rows = self.client.query(
            "SELECT call FROM events WHERE kind = 'call.start' \
             AND ((data::jsonb) ->> 'caller') = $1 ORDER BY id DESC LIMIT $2",
            &[&number, &limit],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn read_after(&mut self, after_id: i64, limit: usize) -> anyhow::Result<Vec<StoredEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(
            &format!("SELECT {COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after_id, &limit],
        )
    }

    fn last_id(&mut self) -> anyhow::Result<i64> {
        let v: Option<i64> = self
            .client
            .query_one("SELECT MAX(id) FROM events", &[])?
            .get(0);
        Ok(v.unwrap_or(0))
    }

    fn open_call_ids(&mut self) -> anyhow::Result<Vec<String>> {
        let rows = self
            .client
            .query("SELECT call FROM open_calls ORDER BY call", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn max_call_seqs(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = self.client.query(
            "SELECT call, MAX(call_seq) FROM events WHERE call <> '' GROUP BY call",
            &[],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// A schema of its own in the test database named by `SWITCHBOARD_TEST_POSTGRES`
/// (scripts/test starts a private cluster and sets it), dropped with everything in it when
/// this value is dropped: the PostgreSQL side of the store, export, report and replay tests.
#[cfg(test)]
pub(crate) struct TestSchema {
    admin: Client,
    name: String,
    /// The database URL with `search_path` set to the schema.
    pub(crate) url: String,
}

#[cfg(test)]
impl TestSchema {
    /// A fresh schema `<prefix>_<pid>`; `None` (and a note on stderr) when no test
    /// database is configured.
    pub(crate) fn create(prefix: &str) -> Option<TestSchema> {
        let Ok(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES") else {
            eprintln!("SWITCHBOARD_TEST_POSTGRES not set; PostgreSQL test ({prefix}) skipped");
            return None;
        };
        let mut admin = Client::connect(&url, NoTls).expect("connect to the test database");
        let name = format!("{prefix}_{}", std::process::id()).replace('-', "_");
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
            ))
            .expect("create the test schema");
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}options=-csearch_path%3D{name}");
        Some(TestSchema { admin, name, url })
    }

    /// A store on the schema.
    pub(crate) fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url).expect("open the test schema")
    }
}

#[cfg(test)]
impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs when `SWITCHBOARD_TEST_POSTGRES` names a database (scripts/test starts a
    /// private cluster and sets it); otherwise says so and passes.
    #[test]
    fn postgres_store_keeps_the_contract() {
        let Some(schema) = TestSchema::create("sb_contract") else {
            return;
        };
        let mut s = schema.store();
        super::super::tests::store_contract(&mut s);
        drop(s);
        // A second open applies nothing and keeps the rows.
        let mut s = schema.store();
        assert_eq!(s.read_range(None, None).unwrap().len(), 8);
    }

    #[test]
    fn postgres_finds_open_calls_among_100000_ended_ones() {
        let Some(schema) = TestSchema::create("sb_open_calls") else {
            return;
        };
        let mut s = schema.store();
        super::super::tests::open_calls_among_many_ended(&mut s, 100_000);
    }

    /// A database at migration 4 (before the open-call markers) with one open and one
    /// ended call: upgrading marks the open one only.
    #[test]
    fn postgres_upgrade_marks_the_calls_left_open() {
        let Some(schema) = TestSchema::create("sb_open_upgrade") else {
            return;
        };
        {
            let mut c = Client::connect(&schema.url, NoTls).unwrap();
            c.batch_execute(
                "CREATE TABLE schema_migrations (
                     version INTEGER PRIMARY KEY, what TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
            )
            .unwrap();
            for m in MIGRATIONS.iter().filter(|m| m.version <= 4) {
                c.batch_execute(m.postgres).unwrap();
                c.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, 0)",
                    &[&(m.version as i32), &m.what],
                )
                .unwrap();
            }
            c.batch_execute(
                r#"INSERT INTO events (ts_ms, call, call_seq, queue, agent, kind, data) VALUES
                   (1, 'c', 1, '', '', 'call.start', '{"caller":"1","dnis":"2"}'),
                   (2, 'done', 1, '', '', 'call.start', '{"caller":"1","dnis":"2"}'),
                   (3, 'done', 2, '', '', 'call.end', '{"end_reason":"caller_hangup"}')"#,
            )
            .unwrap();
        }
        let mut s = schema.store();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        assert_eq!(s.open_call_ids().unwrap(), ["c"]);
        assert_eq!(s.open_calls().unwrap()[0].call, "c");
    }
}
