//! Storage: one connection type over SQLite and PostgreSQL, a pool, and the
//! embedded migrations. Everything backend-specific lives in this module.

mod checkpoint;
mod group_commit;
pub mod schema;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use group_commit::{GroupWriter, Turn};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs a diesel query on the backend's own connection inside
/// `DbConnection`: `native!(conn, |c| query.first(c))`.
///
/// diesel's `MultiConnection` renders every query's SQL text again on each
/// call, even when the backend already holds the prepared statement, and
/// converts each bind through its own collector. Under FOTA load that was an
/// eighth of the server's CPU, so the per-message statements of the device
/// protocols go straight to the backend. The body is compiled once per
/// backend; it sees the same transaction, since `DbConnection`'s
/// transactions are the backend connection's.
#[macro_export]
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Postgres($c) => $body,
        }
    };
}

/// An UPDATE whose prepared statement is kept:
/// `fixed_update(t.find(id), (a.eq(x), b.eq(y)))`, the statement
/// `diesel::update(t.find(id)).set((a.eq(x), b.eq(y)))` builds.
///
/// diesel keeps no UPDATE prepared, because a changeset struct whose
/// optional fields are left out when `None` could fill the cache with a
/// statement per combination of fields. An update on the device-protocol
/// path has one shape, so keeping it costs one cache entry and saves
/// compiling (SQLite) or parsing and planning (PostgreSQL) it on every
/// message. The cache key is the SQL text and bind types, so a changeset
/// that does vary gets an entry per shape, never a wrong statement.
///
/// This writes the UPDATE itself rather than wrapping diesel's
/// `UpdateStatement`: the PostgreSQL connection asks a boxed query whether
/// it may be cached by walking its syntax tree, and diesel's UPDATE marks
/// itself uncacheable there, whatever a wrapper answers.
pub struct FixedUpdate<T: diesel::QuerySource, W, V> {
    from: T::FromClause,
    filter: W,
    values: V,
}

pub fn fixed_update<Target, V>(
    target: Target,
    values: V,
) -> FixedUpdate<Target::Table, Target::WhereClause, V::Changeset>
where
    Target: diesel::query_builder::IntoUpdateTarget,
    V: diesel::AsChangeset<Target = Target::Table>,
{
    use diesel::QuerySource;
    let target = target.into_update_target();
    FixedUpdate {
        from: target.table.from_clause(),
        filter: target.where_clause,
        values: values.as_changeset(),
    }
}

impl<T: diesel::QuerySource, W, V> diesel::query_builder::QueryId for FixedUpdate<T, W, V> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, T, W, V> diesel::query_builder::QueryFragment<DB> for FixedUpdate<T, W, V>
where
    DB: diesel::backend::Backend,
    T: diesel::QuerySource,
    T::FromClause: diesel::query_builder::QueryFragment<DB>,
    W: diesel::query_builder::QueryFragment<DB>,
    V: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        if self.values.is_noop(out.backend())? {
            return Err(diesel::result::Error::QueryBuilderError(Box::new(
                diesel::result::EmptyChangeset,
            )));
        }
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        self.filter.walk_ast(out.reborrow())
    }
}

impl<T: diesel::QuerySource, W, V, C> diesel::RunQueryDsl<C> for FixedUpdate<T, W, V> {}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database connection failed: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("background task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Which engine a URL names. Decided by the URL alone so that a mistyped
/// PostgreSQL URL can never fall through to creating a SQLite file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine of a URL [`check_url`] accepted (the scheme in any case).
    pub fn of_url(url: &str) -> Backend {
        match url_scheme(url) {
            Some(s)
                if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") =>
            {
                Backend::Postgres
            }
            _ => Backend::Sqlite,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The scheme of `text` when it looks like a URL (`scheme://...`, the
/// scheme a letter then letters, digits, `+`, `-` or `.`), else `None`: a
/// plain path such as `./data/x.db` or `/srv/a://b` has none.
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The database URL to use for `url` as configured, or why it names no
/// database this platform can open. Accepted: `postgres://` and
/// `postgresql://` (the scheme in any case, given to libpq in lower case),
/// `sqlite://PATH` and `sqlite:PATH`, and a plain file path. Any other
/// `scheme://` is refused: taken as a file name it would quietly create an
/// empty SQLite database (a mistyped `postgress://`, a `mysql://`).
pub fn check_url(url: &str) -> Result<String, String> {
    if let Some(scheme) = url_scheme(url) {
        let rest = &url[scheme.len()..];
        let lower = scheme.to_ascii_lowercase();
        return match lower.as_str() {
            "postgres" | "postgresql" => Ok(format!("{lower}{rest}")),
            "sqlite" if rest.len() > "://".len() => Ok(format!("sqlite{rest}")),
            "sqlite" => Err("sqlite:// names no file".into()),
            _ => Err(format!(
                "the scheme \"{scheme}://\" is not postgres://, postgresql:// or sqlite:// \
                 (a SQLite file is given as a path or sqlite://PATH)"
            )),
        };
    }
    match url.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("sqlite:") && url.len() > 7 => {
            Ok(format!("sqlite:{}", &url[7..]))
        }
        Some(p) if p.eq_ignore_ascii_case("sqlite:") => Err("sqlite: names no file".into()),
        _ => Ok(url.to_string()),
    }
}

/// The file a SQLite URL [`check_url`] accepted names.
pub fn sqlite_file(url: &str) -> &Path {
    Path::new(sqlite_path(url))
}

/// What `url` opens, for the start-up log: the SQLite file, or the
/// PostgreSQL host, port, database and user, never the password.
pub fn describe_url(url: &str) -> String {
    match Backend::of_url(url) {
        Backend::Sqlite => format!("SQLite file {}", sqlite_path(url)),
        Backend::Postgres => match url::Url::parse(url) {
            Ok(u) => {
                let host = u
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .unwrap_or("local socket");
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                let database = u.path().trim_start_matches('/');
                let database = if database.is_empty() {
                    "(the user's)"
                } else {
                    database
                };
                let user = if u.username().is_empty() {
                    "(default)"
                } else {
                    u.username()
                };
                format!("PostgreSQL database {database} on {host}{port} as user {user}")
            }
            // Multi-host URLs and the like: libpq knows them, `url` may not.
            Err(_) => "PostgreSQL (a URL this log does not break down)".into(),
        },
    }
}

/// Strips an optional `sqlite://` scheme so that both `sqlite://x.db` and a bare path work.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Whether a failed first connection may succeed if tried again: the
/// server is starting, restarting or not reachable yet (a node booting
/// beside its database). A refused password, an unknown role or database,
/// a bad URL, or a SQLite file that cannot be opened will fail the same way
/// every time, so they stop the start at once with the reason instead of
/// the pool's retries for its whole timeout.
fn worth_retrying(backend: Backend, error: &DbError) -> bool {
    if backend == Backend::Sqlite {
        return false;
    }
    let DbError::Connection(diesel::ConnectionError::BadConnection(message)) = error else {
        return false;
    };
    const LASTING: [&str; 6] = [
        "authentication failed",
        "no password supplied",
        "pg_hba.conf",
        "does not exist",
        "invalid",
        "password authentication",
    ];
    !LASTING.iter().any(|m| message.contains(m))
}

pub fn establish(url: &str) -> Result<DbConnection, DbError> {
    match Backend::of_url(url) {
        Backend::Postgres => Ok(DbConnection::Postgres(diesel::PgConnection::establish(
            url,
        )?)),
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(parent) = Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            let mut conn = diesel::SqliteConnection::establish(path)?;
            // WAL lets readers run beside the single writer; the busy timeout
            // makes writers from other processes (the CLI) wait instead of
            // failing at once. Memory-mapped reads spare a system call and a
            // copy per page read under load (the mapped pages count in RSS
            // but are the kernel's page cache, not the process's heap).
            // Statement journals and temporary sorts stay in memory: on
            // disk each one created, opened and deleted a file (about a
            // tenth of the FOTA load's CPU).
            conn.batch_execute("PRAGMA busy_timeout = 10000;")?;
            set_wal(&mut conn)?;
            conn.batch_execute(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA mmap_size = 1073741824; PRAGMA temp_store = MEMORY;",
            )?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// Switches a SQLite database to WAL. On a new file the switch needs the
/// file to itself and SQLite answers "locked" at once, without its busy
/// timeout, while the pool opens its other connections beside this one: it
/// is tried again for a while instead of failing (and logging) the
/// connection. Once the file is in WAL mode the statement is a no-op.
fn set_wal(conn: &mut diesel::SqliteConnection) -> Result<(), DbError> {
    const ATTEMPTS: u32 = 100;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match conn.batch_execute("PRAGMA journal_mode = WAL;") {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS && e.to_string().contains("locked") => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub struct Manager {
    url: String,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        match conn {
            // A SQLite connection is a file handle: it cannot go stale.
            DbConnection::Sqlite(_) => Ok(()),
            DbConnection::Postgres(_) => conn.batch_execute("SELECT 1").map_err(DbError::from),
        }
    }

    /// A connection the server closed, or one handed back inside a
    /// transaction (a panic mid-work), is discarded rather than pooled.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        std::thread::panicking()
            || match conn {
                DbConnection::Sqlite(c) => AnsiTransactionManager::is_broken_transaction_manager(c),
                DbConnection::Postgres(c) => {
                    AnsiTransactionManager::is_broken_transaction_manager(c)
                }
            }
    }
}

/// A pooled PostgreSQL connection idle at least this long is checked with
/// a round trip before use. One in steady use is not: the check was one
/// statement in nine of a FOTA session's, and a connection that dies in
/// use is discarded when it comes back (`has_broken`).
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// When the connection was last handed out, kept with it in the pool.
struct LastCheckout(std::time::Instant);

/// A connection from the pool that is known to be alive if it sat idle: a
/// database server restart leaves dead connections in the pool, and each
/// is dropped here instead of failing a request.
fn checkout(pool: &Pool) -> Result<PooledConn, DbError> {
    // Every pooled connection may be dead after a restart; past that the
    // pool opens new ones.
    for _ in 0..=pool.max_size() {
        let mut conn = pool.get()?;
        let idle = r2d2::PooledConnection::extensions(&conn)
            .get::<LastCheckout>()
            .is_none_or(|t| t.0.elapsed() >= CHECK_AFTER_IDLE);
        r2d2::PooledConnection::extensions_mut(&mut conn)
            .insert(LastCheckout(std::time::Instant::now()));
        if !idle || matches!(*conn, DbConnection::Sqlite(_)) {
            return Ok(conn);
        }
        match conn.batch_execute("SELECT 1") {
            Ok(()) => return Ok(conn),
            // The failed query marks it broken, so the pool drops it.
            Err(e) => tracing::warn!(error = %e, "discarding a dead database connection"),
        }
    }
    Ok(pool.get()?)
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The shared handle to storage. Cloning is cheap.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    /// SQLite has one writer at a time. The process's writers take turns on
    /// one connection and share its transactions (group commit) instead of
    /// queueing in SQLite's busy handler, which polls with sleeps of up to
    /// 100 ms and lets a late writer overtake a waiting one.
    writer: Option<Arc<GroupWriter>>,
}

thread_local! {
    /// The group writer of the database whose work this thread is running
    /// (set by [`Db::run`]), for [`write`] to use.
    static SQLITE_WRITER: RefCell<Option<Arc<GroupWriter>>> = const { RefCell::new(None) };
}

/// Clears the thread's writer when the work ends, even by a panic.
struct WriterScope;

impl WriterScope {
    fn enter(writer: Option<Arc<GroupWriter>>) -> WriterScope {
        SQLITE_WRITER.with(|w| *w.borrow_mut() = writer);
        WriterScope
    }
}

impl Drop for WriterScope {
    fn drop(&mut self) {
        SQLITE_WRITER.with(|w| *w.borrow_mut() = None);
    }
}

/// Work that commits with every write transaction a request commits, and
/// with nothing else: the REST API marks its `Idempotency-Key` carried out
/// this way, so that the mark and the request's changes are durable
/// together or not at all (see `api::idempotency`). An error from it rolls
/// the write back.
pub type CommitMark = Arc<dyn Fn(&mut DbConnection) -> diesel::QueryResult<()> + Send + Sync>;

tokio::task_local! {
    /// The mark of the request whose future is being polled (set by
    /// [`marking_writes`]); [`Db::run`] carries it to the thread that runs
    /// the request's work.
    static REQUEST_MARK: CommitMark;
}

thread_local! {
    /// The mark of the request whose work this thread is running (set by
    /// [`Db::run`]), for [`write`] to add to its outermost transaction.
    static WORK_MARK: RefCell<Option<CommitMark>> = const { RefCell::new(None) };
}

/// Runs `work` (a request's future) so that every write transaction it
/// commits through [`Db::run`] and [`write`] also runs `mark`, inside that
/// transaction. Tasks `work` spawns are not its own and are not marked.
pub async fn marking_writes<F: std::future::Future>(mark: CommitMark, work: F) -> F::Output {
    REQUEST_MARK.scope(mark, work).await
}

/// Clears the thread's mark when the work ends, even by a panic.
struct MarkScope;

impl MarkScope {
    fn enter(mark: CommitMark) -> MarkScope {
        WORK_MARK.with(|m| *m.borrow_mut() = Some(mark));
        MarkScope
    }
}

impl Drop for MarkScope {
    fn drop(&mut self) {
        WORK_MARK.with(|m| *m.borrow_mut() = None);
    }
}

impl Db {
    pub fn connect(url: &str, pool_size: u32) -> Result<Db, DbError> {
        let backend = Backend::of_url(url);
        // One connection first: an error that retrying cannot mend is
        // reported now, once, rather than by the pool on every attempt
        // until its timeout.
        if let Err(e) = establish(url) {
            if !worth_retrying(backend, &e) {
                return Err(e);
            }
            tracing::warn!(error = %e, "database not reachable yet; retrying");
        }
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(15))
            // `checkout` checks idle connections itself.
            .test_on_check_out(false)
            .build(Manager {
                url: url.to_string(),
            })?;
        Ok(Db {
            pool,
            backend,
            writer: (backend == Backend::Sqlite).then(|| Arc::new(GroupWriter::new(url))),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(&self) -> Result<PooledConn, DbError> {
        checkout(&self.pool)
    }

    /// Runs blocking database work on the blocking thread pool so the async
    /// executor never waits on disk or network I/O.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let writer = self.writer.clone();
        // None outside a request that holds an idempotency claim: one
        // task-local read is all it costs then.
        let mark = REQUEST_MARK.try_with(Arc::clone).ok();
        let joined = tokio::task::spawn_blocking(move || {
            let _scope = WriterScope::enter(writer);
            let _mark = mark.map(MarkScope::enter);
            let mut conn = checkout(&pool)?;
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => Err(E::from(DbError::Task(e.to_string()))),
        }
    }

    /// Runs `f` as one write transaction, as [`write`] run through
    /// [`Db::run`] would. On SQLite the work goes straight to the group
    /// writer's own thread, without a blocking-pool thread in between: the
    /// device-facing requests whose every message writes (OMA-DM, the FOTA
    /// URL, download reports) take this way. A request holding an
    /// idempotency mark goes through [`Db::run`], which marks its writes.
    pub async fn run_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let marked = REQUEST_MARK.try_with(|_| ()).is_ok();
        match &self.writer {
            Some(writer) if !marked => writer.submit(f).await.unwrap_or_else(|_| {
                Err(E::from(DbError::Task(
                    "the SQLite writer did not run the work (see the log)".into(),
                )))
            }),
            _ => self.run(move |c| write(c, f)).await,
        }
    }

    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.get()?;
        run_migrations(&mut conn)
    }

    pub fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.get()?;
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }
}

/// The PostgreSQL advisory lock key that serialises migrations ("mdm-migr").
const MIGRATION_LOCK: i64 = 0x6d64_6d2d_6d69_6772;

/// Brings the schema up to date. Several processes may start on one
/// database at once (the nodes of a cluster; the server and the test SMSC
/// playing handsets on a fresh SQLite file): one migrates while the others
/// wait, then finds nothing left to do, instead of both creating the same
/// tables and one failing.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    let migration = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        // BEGIN IMMEDIATE takes the write lock before anything is read, so
        // a second process waits (busy_timeout) until the first commits;
        // diesel runs each migration in a savepoint inside it.
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(migration)
        }),
        DbConnection::Postgres(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(c)?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(migration);
            // A failed unlock leaves the lock to end with the connection.
            let unlocked =
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .execute(c);
            let applied = applied?;
            unlocked?;
            Ok(applied)
        }
    }
}

/// Current time in UTC milliseconds, the unit every timestamp column uses.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// True when a query failed on a unique constraint.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

pub fn is_foreign_key_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _
        )
    )
}

impl Db {
    /// Pool occupancy for the dashboard.
    pub fn pool_state(&self) -> String {
        let s = self.pool.state();
        format!(
            "{} of {} connections in use",
            s.connections - s.idle_connections,
            self.pool.max_size()
        )
    }
}

/// Runs `f` in a write transaction. Nested calls become savepoints, as
/// with `Connection::transaction`.
///
/// On SQLite, work run through [`Db::run`] goes to the process's group
/// writer (see `group_commit`): it runs on the writer connection inside a
/// transaction it may share with other writers, and this returns once that
/// transaction has committed. Other work (the CLI, another process) starts
/// its own transaction with `BEGIN IMMEDIATE`: a deferred transaction that
/// reads and then writes cannot wait for a concurrent writer in WAL mode
/// and fails with "database is locked"; taking the write lock first lets
/// the busy timeout queue it.
///
/// Inside [`marking_writes`] the outermost transaction also runs the
/// request's [`CommitMark`] after `f`, in `f`'s own transaction (or group
/// savepoint), so the mark travels with the work to the group writer.
pub fn write<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let Some(mark) = WORK_MARK.with(|m| m.borrow().clone()) else {
        return write_in_turn(conn, f);
    };
    if in_transaction(conn).map_err(E::from)? {
        // The outermost transaction marks; this is a savepoint inside it.
        return write_in_turn(conn, f);
    }
    write_in_turn(conn, move |c| {
        let value = f(c)?;
        mark(c).map_err(E::from)?;
        Ok(value)
    })
}

/// Whether `conn` has a transaction open.
fn in_transaction(conn: &mut DbConnection) -> diesel::QueryResult<bool> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let status = match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner)
        }
        DbConnection::Postgres(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner)
        }
    };
    Ok(status.transaction_depth()?.is_some())
}

/// [`write`] without a mark.
fn write_in_turn<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let outermost_sqlite = match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner)
                .transaction_depth()
                .map_err(E::from)?
                .is_none()
        }
        DbConnection::Postgres(_) => false,
    };
    if !outermost_sqlite {
        return conn.transaction(f);
    }
    let writer = SQLITE_WRITER.with(|w| w.borrow().clone());
    let f = match writer {
        Some(writer) => match writer.write(f) {
            Turn::Ran(result) => return result,
            Turn::Declined(f) => f,
        },
        None => f,
    };
    if let DbConnection::Sqlite(inner) = conn {
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE").map_err(E::from)?;
    }
    let result = f(conn);
    if let DbConnection::Sqlite(inner) = conn {
        match &result {
            Ok(_) => AnsiTransactionManager::commit_transaction(inner).map_err(E::from)?,
            Err(_) => {
                // The caller's error is the one worth reporting.
                let _ = AnsiTransactionManager::rollback_transaction(inner);
            }
        }
    }
    result
}

/// The id the last INSERT on this connection generated. The multi-backend
/// connection has no RETURNING, so each backend's own function is asked:
/// both are per connection, so concurrent inserts elsewhere do not interfere.
pub fn last_insert_id(conn: &mut DbConnection) -> diesel::QueryResult<i64> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;
    match conn {
        DbConnection::Sqlite(c) => {
            diesel::select(sql::<BigInt>("last_insert_rowid()")).get_result(c)
        }
        DbConnection::Postgres(c) => diesel::select(sql::<BigInt>("lastval()")).get_result(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_postgres_sqlite_or_a_path_and_nothing_else() {
        for (given, used) in [
            ("postgres://u:p@h/db", "postgres://u:p@h/db"),
            ("postgresql://h/db", "postgresql://h/db"),
            ("Postgres://u@h/db", "postgres://u@h/db"),
            ("POSTGRESQL://h/db", "postgresql://h/db"),
            ("sqlite://data/x.db", "sqlite://data/x.db"),
            ("SQLite://x.db", "sqlite://x.db"),
            ("sqlite:x.db", "sqlite:x.db"),
            ("./data/mdm.db", "./data/mdm.db"),
            ("/srv/a://b.db", "/srv/a://b.db"),
            ("mdm.db", "mdm.db"),
        ] {
            assert_eq!(check_url(given).as_deref(), Ok(used), "{given}");
        }
        for bad in [
            "mysql://u:p@h/db",
            "garbage://x",
            "postgress://h/db",
            "file:///tmp/x.db",
            "sqlite://",
            "sqlite:",
        ] {
            assert!(check_url(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(Backend::of_url("Postgres://h/db"), Backend::Postgres);
        assert_eq!(Backend::of_url("sqlite://x"), Backend::Sqlite);
    }

    #[test]
    fn the_database_description_never_shows_the_password() {
        let d = describe_url("postgres://mdm:s3cret@db.example:5433/mdm?sslmode=require");
        assert_eq!(d, "PostgreSQL database mdm on db.example:5433 as user mdm");
        assert_eq!(describe_url("sqlite://data/x.db"), "SQLite file data/x.db");
        assert!(!describe_url("postgres://u:s3cret@h1,h2/db").contains("s3cret"));
    }

    #[test]
    fn a_refused_password_is_not_retried_but_a_refused_connection_is() {
        let bad =
            |m: &str| DbError::Connection(diesel::ConnectionError::BadConnection(m.to_string()));
        let auth = bad("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"mdm\"");
        assert!(!worth_retrying(Backend::Postgres, &auth));
        let refused =
            bad("connection to server at \"127.0.0.1\", port 5433 failed: Connection refused");
        assert!(worth_retrying(Backend::Postgres, &refused));
        let starting = bad("FATAL:  the database system is starting up");
        assert!(worth_retrying(Backend::Postgres, &starting));
        assert!(!worth_retrying(Backend::Sqlite, &refused));
    }

    #[test]
    fn an_unopenable_sqlite_file_fails_at_once() {
        let started = std::time::Instant::now();
        assert!(Db::connect("/proc/no-such-dir/mdm.db", 2).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn connections_opened_at_once_on_a_new_file_all_succeed_in_wal_mode() {
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        // As the pool opens its connections at first start: in parallel,
        // on a file that does not exist yet.
        for round in 0..50 {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = dir
                .path()
                .join("data/new.db")
                .to_string_lossy()
                .into_owned();
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (url, barrier) = (url.clone(), barrier.clone());
                    std::thread::spawn(move || -> Result<String, DbError> {
                        barrier.wait();
                        let mut conn = establish(&url)?;
                        let mode: Mode =
                            diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn)?;
                        Ok(mode.journal_mode)
                    })
                })
                .collect();
            for t in threads {
                let mode = t.join().expect("thread");
                assert_eq!(mode.ok().as_deref(), Some("wal"), "round {round}");
            }
        }
    }

    fn scratch() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("t.db").to_string_lossy().into_owned();
        let db = Db::connect(&url, 4).expect("database");
        db.get()
            .expect("connection")
            .batch_execute("CREATE TABLE n (v INTEGER NOT NULL)")
            .expect("table");
        (dir, db)
    }

    #[test]
    fn bundled_sqlite_keeps_the_query_planner_stable() {
        // Without it every `.first()` statement is compiled again on each
        // use (see .cargo/config.toml).
        let (_dir, db) = scratch();
        let mut conn = db.get().expect("connection");
        let used: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "sqlite_compileoption_used('ENABLE_QPSG')",
        ))
        .get_result(&mut *conn)
        .expect("compile option");
        assert_eq!(used, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_queue_and_all_commit() {
        let (_dir, db) = scratch();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let db2 = db.clone();
            tasks.push(tokio::spawn(async move {
                db2.run(move |c| {
                    write(c, |c| {
                        // A read then a write: the shape that fails with
                        // "database is locked" when two such run unqueued.
                        let n: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                            "(SELECT COUNT(*) FROM n)",
                        ))
                        .get_result(c)?;
                        diesel::sql_query(format!("INSERT INTO n (v) VALUES ({})", n + i))
                            .execute(c)?;
                        Ok::<_, DbError>(())
                    })
                })
                .await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("write");
        }
        let count: i64 = db
            .run(|c| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT COUNT(*) FROM n)",
                ))
                .get_result(c)
                .map_err(DbError::from)
            })
            .await
            .expect("count");
        assert_eq!(count, 64);
    }

    diesel::table! {
        counters (id) {
            id -> BigInt,
            label -> Nullable<Text>,
            hits -> Integer,
        }
    }

    /// Prepared once, bound on each call, on the backend's own connection.
    fn check_fixed_update(mut c: DbConnection) {
        use diesel::connection::{Instrumentation, InstrumentationEvent};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cached = Arc::new(AtomicUsize::new(0));
        let seen = cached.clone();
        c.batch_execute(
            "CREATE TEMPORARY TABLE counters (id BIGINT PRIMARY KEY, label TEXT, hits INTEGER NOT NULL);
             INSERT INTO counters VALUES (1, 'a', 0), (2, 'b', 0);",
        )
        .expect("table");
        let count: Box<dyn Instrumentation> = Box::new(move |e: InstrumentationEvent<'_>| {
            if matches!(e, InstrumentationEvent::CacheQuery { .. }) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        match &mut c {
            DbConnection::Sqlite(s) => s.set_instrumentation(count),
            DbConnection::Postgres(p) => p.set_instrumentation(count),
        }
        let set = |c: &mut DbConnection, id: i64, label: Option<&str>, hits: i32| {
            crate::native!(c, |n| fixed_update(
                counters::table.find(id),
                (counters::label.eq(label), counters::hits.eq(hits))
            )
            .execute(n))
            .expect("update")
        };
        assert_eq!(set(&mut c, 1, Some("x"), 1), 1);
        assert_eq!(set(&mut c, 2, None, 2), 1);
        assert_eq!(set(&mut c, 1, None, 3), 1);
        assert_eq!(set(&mut c, 3, None, 3), 0);
        // Prepared and kept once; diesel's own UPDATE is never kept.
        assert_eq!(cached.load(Ordering::SeqCst), 1);
        crate::native!(&mut c, |n| diesel::update(counters::table.find(1))
            .set(counters::hits.eq(4))
            .execute(n))
        .expect("plain update");
        assert_eq!(cached.load(Ordering::SeqCst), 1);
        let rows: Vec<(i64, Option<String>, i32)> = counters::table
            .order(counters::id)
            .load(&mut c)
            .expect("rows");
        assert_eq!(rows, vec![(1, None, 4), (2, None, 2)]);
    }

    #[test]
    fn a_fixed_update_is_prepared_once_and_binds_each_call() {
        let c = diesel::SqliteConnection::establish(":memory:").expect("connection");
        check_fixed_update(DbConnection::Sqlite(c));
    }

    /// PostgreSQL asks a boxed query whether it may be cached by walking its
    /// syntax tree, so a wrapper around diesel's UPDATE was never kept there.
    #[test]
    fn a_fixed_update_is_prepared_once_on_postgresql_too() {
        let Some(url) = std::env::var("MDM_TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            return;
        };
        let c = diesel::PgConnection::establish(&url).expect("PostgreSQL");
        check_fixed_update(DbConnection::Postgres(c));
    }

    fn backend_pid(c: &mut DbConnection) -> diesel::QueryResult<i32> {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "pg_backend_pid()",
        ))
        .get_result(c)
    }

    fn terminate(url: &str, pid: i32) {
        let mut admin = diesel::PgConnection::establish(url).expect("PostgreSQL");
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
            .execute(&mut admin)
            .expect("terminate");
        // The backend exits asynchronously.
        std::thread::sleep(Duration::from_millis(200));
    }

    /// A server restart leaves dead connections in the pool: an idle one is
    /// checked and replaced before use, one that dies in use is dropped
    /// when it comes back.
    #[test]
    fn dead_postgresql_connections_are_replaced_not_handed_out() {
        let Some(url) = std::env::var("MDM_TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            return;
        };
        let db = Db::connect(&url, 1).expect("pool");
        let first = backend_pid(&mut db.get().expect("connection")).expect("pid");
        terminate(&url, first);
        std::thread::sleep(CHECK_AFTER_IDLE);
        let mut c = db.get().expect("connection");
        let second = backend_pid(&mut c).expect("a live connection after the idle check");
        assert_ne!(first, second);
        // Dies while in use, inside the idle window: the query fails once,
        // and the connection does not go back into the pool.
        terminate(&url, second);
        assert!(backend_pid(&mut c).is_err());
        drop(c);
        let third = backend_pid(&mut db.get().expect("connection")).expect("pid");
        assert_ne!(third, second);
        // In steady use the same connection comes back without a check.
        let again = backend_pid(&mut db.get().expect("connection")).expect("pid");
        assert_eq!(again, third);
    }

    #[test]
    fn the_writer_is_only_set_while_work_runs() {
        let writer = Arc::new(GroupWriter::new("unused.db"));
        {
            let _scope = WriterScope::enter(Some(writer));
            assert!(SQLITE_WRITER.with(|w| w.borrow().is_some()));
        }
        assert!(SQLITE_WRITER.with(|w| w.borrow().is_none()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mark_commits_once_with_each_outermost_write_and_never_alone() {
        let (_dir, db) = scratch();
        let insert = |v: i64| {
            move |c: &mut DbConnection| {
                diesel::sql_query(format!("INSERT INTO n (v) VALUES ({v})")).execute(c)
            }
        };
        let mark: CommitMark = Arc::new(|c: &mut DbConnection| {
            diesel::sql_query("INSERT INTO n (v) VALUES (-1)")
                .execute(c)
                .map(|_| ())
        });
        let db2 = db.clone();
        marking_writes(mark, async move {
            // A write with a write nested in it: marked once.
            db2.run(move |c| {
                write(c, |c| {
                    insert(1)(c)?;
                    write(c, insert(2))?;
                    Ok::<_, DbError>(())
                })
            })
            .await
            .expect("write");
            // Rolled back: its mark with it.
            let failed = db2
                .run(move |c| {
                    write(c, |c| {
                        insert(3)(c)?;
                        Err::<(), _>(DbError::Task("the handler failed".into()))
                    })
                })
                .await;
            assert!(failed.is_err());
        })
        .await;
        // Outside the request's scope: not marked.
        db.run(move |c| write(c, insert(4)).map_err(DbError::from))
            .await
            .expect("write");
        let rows: Vec<i64> = db
            .run(|c| {
                #[derive(diesel::QueryableByName)]
                struct V {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    v: i64,
                }
                diesel::sql_query("SELECT v FROM n ORDER BY rowid")
                    .load::<V>(c)
                    .map(|r| r.into_iter().map(|r| r.v).collect())
                    .map_err(DbError::from)
            })
            .await
            .expect("rows");
        assert_eq!(rows, [1, 2, -1, 4]);
    }
}
