//! Group commit for SQLite: the process's write transactions run, one after
//! another, on a single writer connection, and writers that arrive while
//! one is running join its transaction, so one COMMIT (one WAL append, one
//! lock hand-over) carries the writes of many requests.
//!
//! Each writer's work runs inside a savepoint: its error undoes only its own
//! writes. A writer's call returns only once the transaction holding its
//! writes has committed, so nobody is answered with data a crash could
//! still lose. The writer that finds nobody queued behind it (or fills the
//! group) commits and wakes the others.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use diesel::result::{DatabaseErrorKind, Error as QueryError};

use super::checkpoint::Checkpointer;
use super::{establish, DbConnection};

/// The most writers one transaction carries, so that the first of a group
/// under constant load is not kept waiting for its commit indefinitely.
const MAX_GROUP: usize = 32;

/// The most submitted works one transaction carries. The writer's thread
/// has nobody parked behind the group, so it can be larger: under load a
/// commit then carries four times the requests for the same WAL append.
const MAX_SUBMITTED_GROUP: usize = 4 * MAX_GROUP;

/// How long a writer waits for its turn before going ahead on its own
/// connection and leaving it to SQLite's busy timeout (as long), so no wait
/// is shorter than SQLite's own.
const TURN_WAIT: Duration = Duration::from_secs(10);

thread_local! {
    /// Set while this thread holds the writer connection, so that a write
    /// opened on a second connection from inside a write does not queue
    /// behind itself.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// The outcome of one group transaction, awaited by its members.
#[derive(Default)]
struct Group {
    outcome: parking_lot::Mutex<Option<Result<(), String>>>,
    done: parking_lot::Condvar,
}

impl Group {
    fn finish(&self, outcome: Result<(), String>) {
        *self.outcome.lock() = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut outcome = self.outcome.lock();
        loop {
            if let Some(o) = outcome.as_ref() {
                return o.clone();
            }
            self.done.wait(&mut outcome);
        }
    }
}

#[derive(Default)]
struct WriterState {
    conn: Option<DbConnection>,
    open: Option<Arc<Group>>,
    members: usize,
}

/// Tells one submitted writer how its transaction ended.
type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Submitted work: runs in its savepoint and returns how to answer once
/// the group's outcome is known.
type Job = Box<dyn FnOnce(&mut DbConnection) -> Answer + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The writer is gone: its thread ends.
    closed: bool,
}

/// The submitted work waiting for the writer's thread.
#[derive(Default)]
struct Submitted {
    queue: parking_lot::Mutex<Queue>,
    arrived: parking_lot::Condvar,
}

/// The process's SQLite writer for one database.
pub struct GroupWriter {
    url: String,
    state: parking_lot::Mutex<WriterState>,
    /// Writers waiting for the connection: while there are any, the holder
    /// leaves the transaction open for them.
    queued: AtomicUsize,
    submitted: Arc<Submitted>,
    /// Started with the first submitted work; false if it could not be.
    thread: OnceLock<bool>,
    /// Checkpoints the writer's commits off the writer's path.
    checkpoints: Checkpointer,
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        self.submitted.queue.lock().closed = true;
        self.submitted.arrived.notify_all();
    }
}

/// What [`GroupWriter::write`] did with the work.
pub enum Turn<R, F> {
    Ran(R),
    /// The writer was not available (held too long, or by this thread);
    /// the caller runs the work on its own connection.
    Declined(F),
}

struct Holding;

impl Holding {
    fn enter() -> Holding {
        HOLDING.with(|h| h.set(true));
        Holding
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        HOLDING.with(|h| h.set(false));
    }
}

fn failure(message: String) -> QueryError {
    QueryError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message))
}

fn sqlite(conn: &mut DbConnection) -> Option<&mut diesel::SqliteConnection> {
    match conn {
        DbConnection::Sqlite(inner) => Some(inner),
        DbConnection::Postgres(_) => None,
    }
}

impl GroupWriter {
    pub fn new(url: &str) -> GroupWriter {
        GroupWriter {
            url: url.to_string(),
            state: parking_lot::Mutex::default(),
            queued: AtomicUsize::new(0),
            submitted: Arc::default(),
            thread: OnceLock::new(),
            checkpoints: Checkpointer::new(url),
        }
    }

    /// Queues `f` for the writer's thread, which runs it in a savepoint of
    /// the current group transaction; the answer comes once that
    /// transaction has committed (or with `f`'s own error). A closed
    /// channel means the work never ran to an answer: the writer could not
    /// begin a transaction, or work in its group panicked.
    pub fn submit<T, E, F>(self: &Arc<Self>, f: F) -> tokio::sync::oneshot::Receiver<Result<T, E>>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<QueryError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.transaction(f);
            Box::new(move |committed: Result<(), String>| {
                let _ = tx.send(match (result, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(E::from(failure(e))),
                });
            })
        });
        let running = *self.thread.get_or_init(|| {
            let (submitted, writer) = (self.submitted.clone(), Arc::downgrade(self));
            let started = std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || serve(&submitted, &writer));
            if let Err(e) = &started {
                tracing::error!(error = %e, "could not start the SQLite writer's thread");
            }
            started.is_ok()
        });
        if !running {
            // Dropped unrun, the work closes its channel: the caller is
            // told at once instead of waiting for a thread that is not there.
            return rx;
        }
        self.submitted.queue.lock().jobs.push_back(job);
        self.submitted.arrived.notify_one();
        rx
    }

    /// Runs the queued work on the writer connection, as many as a group
    /// holds (and whatever arrives meanwhile) in one transaction, commits
    /// and answers them.
    fn run_submitted(&self, first: Job) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let holding = Holding::enter();
        let group = match self.open(&mut state) {
            Ok(group) => group,
            Err(e) => {
                // Dropping the work closes its channels: the callers see
                // the writer failed.
                tracing::error!(error = %e, "the SQLite writer could not begin a transaction");
                return;
            }
        };
        let mut answers: Vec<Answer> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let Some(conn) = state.conn.as_mut() else {
                break;
            };
            match catch_unwind(AssertUnwindSafe(|| job(conn))) {
                Ok(answer) => answers.push(answer),
                Err(_) => {
                    // As in `write`: the connection goes, the group rolls
                    // back, and everyone in it is told.
                    tracing::error!("submitted SQLite work panicked; its group is rolled back");
                    abandon(&mut state, &group);
                    drop(state);
                    drop(holding);
                    for answer in answers {
                        answer(Err(ABANDONED.into()));
                    }
                    return;
                }
            }
            state.members += 1;
            if state.members < MAX_SUBMITTED_GROUP {
                next = self.submitted.queue.lock().jobs.pop_front();
            }
        }
        let committed = self.commit(&mut state);
        group.finish(committed.clone());
        drop(state);
        drop(holding);
        for answer in answers {
            answer(committed.clone());
        }
    }

    /// Runs `f` in the current group transaction (opening one if none is
    /// open) and returns once that transaction has committed.
    pub fn write<T, E, F>(&self, f: F) -> Turn<Result<T, E>, F>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<QueryError>,
    {
        if HOLDING.with(Cell::get) {
            return Turn::Declined(f);
        }
        self.queued.fetch_add(1, Ordering::SeqCst);
        let turn = self.state.try_lock_for(TURN_WAIT);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let Some(mut state) = turn else {
            tracing::warn!("waited 10 s for this process's SQLite writer; going ahead");
            return Turn::Declined(f);
        };
        let holding = Holding::enter();

        let group = match self.open(&mut state) {
            Ok(group) => group,
            Err(e) => return Turn::Ran(Err(E::from(e))),
        };
        let Some(conn) = state.conn.as_mut() else {
            // `open` leaves a connection in place whenever it succeeds.
            return Turn::Ran(Err(E::from(failure("no SQLite writer connection".into()))));
        };
        // Nested inside the open transaction this is a savepoint: an error
        // rolls back this writer's work alone.
        let ran = catch_unwind(AssertUnwindSafe(|| conn.transaction(f)));
        state.members += 1;
        let result = match ran {
            Ok(result) => result,
            Err(panic) => {
                // The savepoint may still be open; dropping the connection
                // rolls the whole group back, and its members are told.
                abandon(&mut state, &group);
                drop(state);
                drop(holding);
                resume_unwind(panic);
            }
        };

        if self.queued.load(Ordering::SeqCst) == 0 || state.members >= MAX_GROUP {
            let committed = self.commit(&mut state);
            group.finish(committed.clone());
            return Turn::Ran(match committed {
                Ok(()) => result,
                Err(e) => Err(E::from(failure(e))),
            });
        }
        drop(state);
        drop(holding);
        match result {
            // Nothing of this writer's remains to commit.
            Err(e) => Turn::Ran(Err(e)),
            Ok(value) => Turn::Ran(match group.wait() {
                Ok(()) => Ok(value),
                Err(e) => Err(E::from(failure(e))),
            }),
        }
    }

    /// The open group, beginning a transaction (and connecting) if needed.
    fn open(&self, state: &mut WriterState) -> Result<Arc<Group>, QueryError> {
        if let Some(group) = &state.open {
            return Ok(group.clone());
        }
        if state.conn.is_none() {
            let mut conn = establish(&self.url).map_err(|e| failure(e.to_string()))?;
            if self.checkpoints.running() {
                // The checkpoint thread copies the WAL back; the commits
                // of this connection no longer do.
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA wal_autocheckpoint = 0;",
                )?;
            }
            state.conn = Some(conn);
        }
        let inner = state
            .conn
            .as_mut()
            .and_then(sqlite)
            .ok_or_else(|| failure("the group writer serves SQLite only".into()))?;
        if let Err(e) = AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE") {
            // A connection that cannot begin is not trusted again.
            state.conn = None;
            return Err(e);
        }
        let group = Arc::new(Group::default());
        state.open = Some(group.clone());
        state.members = 0;
        Ok(group)
    }

    fn commit(&self, state: &mut WriterState) -> Result<(), String> {
        state.open = None;
        state.members = 0;
        let Some(inner) = state.conn.as_mut().and_then(sqlite) else {
            return Err("no SQLite writer connection".into());
        };
        match AnsiTransactionManager::commit_transaction(inner) {
            Ok(()) => {
                self.checkpoints.committed();
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; the group is rolled back");
                if AnsiTransactionManager::rollback_transaction(inner).is_err() {
                    state.conn = None;
                }
                Err(format!("commit failed: {e}"))
            }
        }
    }
}

/// What the members of a group rolled back by a panic are told.
const ABANDONED: &str = "a writer in the same transaction failed";

/// Rolls the open group back by dropping the connection (a savepoint may
/// still be open) and tells its members.
fn abandon(state: &mut WriterState, group: &Group) {
    state.conn = None;
    state.open = None;
    state.members = 0;
    group.finish(Err(ABANDONED.into()));
}

/// The writer's thread: waits for submitted work and runs it, until the
/// writer is dropped.
fn serve(submitted: &Submitted, writer: &Weak<GroupWriter>) {
    loop {
        let job = {
            let mut queue = submitted.queue.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.closed {
                    return;
                }
                submitted.arrived.wait(&mut queue);
            }
        };
        let Some(writer) = writer.upgrade() else {
            return;
        };
        writer.run_submitted(job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::RunQueryDsl;

    fn scratch() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("g.db").to_string_lossy().into_owned();
        establish(&url)
            .expect("connection")
            .batch_execute("CREATE TABLE n (v INTEGER NOT NULL UNIQUE)")
            .expect("table");
        (dir, url)
    }

    fn count(url: &str) -> i64 {
        let mut c = establish(url).expect("connection");
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT COUNT(*) FROM n)",
        ))
        .get_result(&mut c)
        .expect("count")
    }

    fn insert(c: &mut DbConnection, v: i64) -> Result<(), QueryError> {
        diesel::sql_query(format!("INSERT INTO n (v) VALUES ({v})"))
            .execute(c)
            .map(|_| ())
    }

    /// `n` threads writing 50 rows each through [`GroupWriter::write`]
    /// (thread `t` writes `t * 1000 + i`).
    fn blocking_writers(writer: &Arc<GroupWriter>, n: i64) -> Vec<std::thread::JoinHandle<()>> {
        (0..n)
            .map(|t| {
                let w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        ran(w.write(|c| insert(c, t * 1000 + i))).expect("write");
                    }
                })
            })
            .collect()
    }

    fn ran<T, E, F>(turn: Turn<Result<T, E>, F>) -> Result<T, E> {
        match turn {
            Turn::Ran(r) => r,
            Turn::Declined(_) => panic!("the writer declined"),
        }
    }

    #[test]
    fn a_lone_write_is_committed_when_it_returns() {
        let (_dir, url) = scratch();
        let writer = GroupWriter::new(&url);
        ran(writer.write(|c| insert(c, 1))).expect("write");
        // Read on another connection: only committed rows are visible there.
        assert_eq!(count(&url), 1);
    }

    #[test]
    fn a_failing_writer_undoes_only_its_own_work() {
        let (_dir, url) = scratch();
        let writer = Arc::new(GroupWriter::new(&url));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let w = writer.clone();
                std::thread::spawn(move || {
                    ran(w.write(|c| {
                        insert(c, 1000 + i)?;
                        // Every fourth writer inserts a duplicate after its
                        // first row, so its whole work must vanish.
                        if i % 4 == 0 {
                            insert(c, 1000 + i)?;
                        }
                        Ok::<_, QueryError>(())
                    }))
                })
            })
            .collect();
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 4);
        assert_eq!(count(&url), 12);
    }

    #[test]
    fn concurrent_writers_share_transactions_and_all_commit() {
        let (_dir, url) = scratch();
        let writer = Arc::new(GroupWriter::new(&url));
        let threads = blocking_writers(&writer, 8);
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(count(&url), 400);
    }

    #[test]
    fn a_write_from_inside_a_write_is_declined_not_deadlocked() {
        let (_dir, url) = scratch();
        let writer = GroupWriter::new(&url);
        let inner_declined = ran(writer.write(|c| {
            insert(c, 1)?;
            let declined = matches!(
                writer.write(|c: &mut DbConnection| insert(c, 2)),
                Turn::Declined(_)
            );
            Ok::<_, QueryError>(declined)
        }))
        .expect("write");
        assert!(inner_declined);
        assert_eq!(count(&url), 1);
    }

    #[test]
    fn a_panicking_writer_leaves_the_writer_usable() {
        let (_dir, url) = scratch();
        let writer = GroupWriter::new(&url);
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let _ = writer.write(|c| -> Result<(), QueryError> {
                insert(c, 1)?;
                panic!("bug in a writer");
            });
        }));
        assert!(panicked.is_err());
        ran(writer.write(|c| insert(c, 2))).expect("write after a panic");
        assert_eq!(count(&url), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submitted_work_is_committed_when_answered_and_fails_alone() {
        let (_dir, url) = scratch();
        let writer = Arc::new(GroupWriter::new(&url));
        let answers: Vec<_> = (0..40i64)
            .map(|i| {
                writer.submit(move |c| {
                    insert(c, 2000 + i)?;
                    // Every fifth inserts a duplicate after its first row:
                    // its whole work must vanish, nobody else's.
                    if i % 5 == 0 {
                        insert(c, 2000 + i)?;
                    }
                    Ok::<_, QueryError>(i)
                })
            })
            .collect();
        let mut failed = 0;
        for (i, answer) in answers.into_iter().enumerate() {
            match answer.await.expect("answered") {
                Ok(v) => assert_eq!(v, i as i64),
                Err(_) => failed += 1,
            }
        }
        assert_eq!(failed, 8);
        // Read on another connection: only committed rows are visible there.
        assert_eq!(count(&url), 32);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submitted_and_blocking_writers_share_the_connection() {
        let (_dir, url) = scratch();
        let writer = Arc::new(GroupWriter::new(&url));
        let threads = blocking_writers(&writer, 4);
        for i in 0..200 {
            writer
                .submit(move |c| insert(c, 10_000 + i))
                .await
                .expect("answered")
                .expect("write");
        }
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(count(&url), 400);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_submission_is_reported_and_the_writer_goes_on() {
        let (_dir, url) = scratch();
        let writer = Arc::new(GroupWriter::new(&url));
        let panicked = writer.submit(|c| -> Result<(), QueryError> {
            insert(c, 1)?;
            panic!("bug in submitted work");
        });
        assert!(
            panicked.await.is_err(),
            "the channel closes without an answer"
        );
        writer
            .submit(|c| insert(c, 2))
            .await
            .expect("answered")
            .expect("write after a panic");
        assert_eq!(count(&url), 1);
    }
}
