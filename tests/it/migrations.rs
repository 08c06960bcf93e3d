//! The down migrations are what an operator runs to step back from a bad
//! release; nothing else exercises them, so this test reverts the whole
//! schema and applies it again on the backend under test.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use mdm::db::{self, DbConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

use crate::common::{drop_database, fresh_database};

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every table, column, index and trigger of the schema, one line each, in
/// a stable order.
fn schema(conn: &mut DbConnection) -> Vec<String> {
    let sql = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS line FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' \
             ORDER BY type, name"
        }
        DbConnection::Postgres(_) => {
            "SELECT line FROM ( \
               SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' \
                 || is_nullable || ' ' || coalesce(column_default, '') AS line \
               FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name <> '__diesel_schema_migrations' \
               UNION ALL SELECT 'index ' || indexdef FROM pg_indexes \
                 WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations' \
               UNION ALL SELECT 'trigger ' || event_object_table || ' ' || trigger_name || ' ' \
                 || event_manipulation || ' ' || action_statement \
               FROM information_schema.triggers WHERE trigger_schema = 'public' \
               UNION ALL SELECT 'function ' || routine_name FROM information_schema.routines \
                 WHERE routine_schema = 'public' \
             ) s ORDER BY line"
        }
    };
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .expect("read the schema")
        .into_iter()
        .map(|l| l.line)
        .collect()
}

/// Reverts the newest applied migration; false when none is left.
fn step_down(conn: &mut DbConnection) -> bool {
    let reverted = match conn {
        DbConnection::Sqlite(c) => c
            .applied_migrations()
            .map(|a| !a.is_empty())
            .and_then(|any| {
                any.then(|| c.revert_last_migration(SQLITE_MIGRATIONS))
                    .transpose()
            }),
        DbConnection::Postgres(c) => {
            c.applied_migrations()
                .map(|a| !a.is_empty())
                .and_then(|any| {
                    any.then(|| c.revert_last_migration(POSTGRES_MIGRATIONS))
                        .transpose()
                })
        }
    };
    reverted.expect("the down migration runs").is_some()
}

fn step_up(conn: &mut DbConnection) {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_next_migration(SQLITE_MIGRATIONS).map(drop),
        DbConnection::Postgres(c) => c.run_next_migration(POSTGRES_MIGRATIONS).map(drop),
    };
    applied.expect("the up migration runs");
}

/// Each down migration must leave exactly the schema its predecessors
/// built: the test walks down one migration at a time, recording the
/// schema, then up again one at a time and compares. (Reverting all at
/// once would not notice an index a down migration forgot, since dropping
/// its table drops it too.)
#[test]
fn every_migration_reverts_to_the_schema_before_it_and_applies_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, pg) = fresh_database(dir.path());
    let mut conn = db::establish(&url).expect("connect");

    let applied = db::run_migrations(&mut conn).expect("migrate up");
    assert!(applied >= 9, "only {applied} migrations applied");
    // The down migrations run over rows, as they would in a live database.
    conn.batch_execute(
        "INSERT INTO audit_events (at, actor, entity_kind, entity_id, action) \
         VALUES (1, 'test', 'device', 1, 'created')",
    )
    .expect("a row before reverting");

    // down[i] is the schema with the first i migrations applied.
    let mut down = vec![schema(&mut conn)];
    while step_down(&mut conn) {
        down.push(schema(&mut conn));
    }
    down.reverse();
    assert_eq!(down.len(), applied + 1, "every migration reverted");
    assert_eq!(down[0], Vec::<String>::new(), "objects left behind");

    for (i, expected) in down.iter().enumerate().skip(1) {
        step_up(&mut conn);
        assert_eq!(
            &schema(&mut conn),
            expected,
            "after migration {i} of {applied}"
        );
    }

    drop(conn);
    drop_database(pg);
}

/// Processes that start on one new database together (cluster nodes, or the
/// server beside the test SMSC playing handsets) must not both create the
/// schema: one migrates, the others wait and find nothing left to do.
#[test]
fn processes_starting_together_on_a_new_database_migrate_it_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, pg) = fresh_database(dir.path());
    let starts = std::sync::Arc::new(std::sync::Barrier::new(4));
    let runners: Vec<_> = (0..4)
        .map(|_| {
            let (url, starts) = (url.clone(), starts.clone());
            std::thread::spawn(move || {
                let mut conn = db::establish(&url).expect("connect");
                starts.wait();
                db::run_migrations(&mut conn).map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut applied: Vec<usize> = runners
        .into_iter()
        .map(|r| r.join().expect("runner").expect("migrations run"))
        .collect();
    applied.sort_unstable();
    assert_eq!(&applied[..3], &[0, 0, 0], "{applied:?}");
    assert!(applied[3] >= 9, "{applied:?}");
    drop_database(pg);
}
