//! WAL checkpoints for the SQLite group writer, on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
//! past 1,000 pages, on the committing connection: with group commit that is
//! the writer connection, so every write of the process waited while the
//! checkpoint copied pages into the database file and flushed it to disk. A
//! slow flush stalled the whole device path. The writer connection turns
//! the automatic checkpoint off and tells this thread of its commits; the
//! thread runs a passive checkpoint (one that never waits for, nor blocks,
//! readers and writers) on its own connection, at most once per pause.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{establish, DbConnection};

/// Commits gather for this long before a checkpoint copies them: under load
/// one checkpoint (and one flush) carries many groups' pages.
const PAUSE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Pending {
    /// Commits since the last checkpoint began.
    commits: u64,
    /// The writer is gone: the thread ends.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: parking_lot::Mutex<Pending>,
    changed: parking_lot::Condvar,
}

pub struct Checkpointer {
    url: String,
    shared: Arc<Shared>,
    /// Started with the first commit.
    thread: OnceLock<bool>,
}

impl Checkpointer {
    pub fn new(url: &str) -> Checkpointer {
        Checkpointer {
            url: url.to_string(),
            shared: Arc::default(),
            thread: OnceLock::new(),
        }
    }

    /// Whether the checkpoint thread runs (or can be started): when it
    /// cannot, the writer connection keeps SQLite's own checkpoints.
    pub fn running(&self) -> bool {
        *self.thread.get_or_init(|| {
            let (shared, url) = (self.shared.clone(), self.url.clone());
            match std::thread::Builder::new()
                .name("sqlite-checkpoint".into())
                .spawn(move || run(&shared, &url))
            {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "could not start the SQLite checkpoint thread; the writer checkpoints itself");
                    false
                }
            }
        })
    }

    /// Tells the thread the writer committed.
    pub fn committed(&self) {
        self.shared.pending.lock().commits += 1;
        self.shared.changed.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.pending.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

fn run(shared: &Shared, url: &str) {
    let mut conn: Option<DbConnection> = None;
    let mut failing = false;
    loop {
        {
            let mut pending = shared.pending.lock();
            while pending.commits == 0 && !pending.closed {
                shared.changed.wait(&mut pending);
            }
            if pending.closed {
                return;
            }
            // Let more commits gather, unless the writer goes meanwhile.
            shared
                .changed
                .wait_while_for(&mut pending, |p| !p.closed, PAUSE);
            if pending.closed {
                return;
            }
            pending.commits = 0;
        }
        match checkpoint(&mut conn, url) {
            Ok(()) => failing = false,
            Err(e) => {
                // The connection is opened afresh next time.
                conn = None;
                if !failing {
                    tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retried after the next commit");
                }
                failing = true;
            }
        }
    }
}

fn checkpoint(conn: &mut Option<DbConnection>, url: &str) -> Result<(), super::DbError> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(establish(url)?),
    };
    c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_size(dir: &tempfile::TempDir) -> u64 {
        std::fs::metadata(dir.path().join("c.db"))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    #[test]
    fn commits_reach_the_database_file_through_the_thread() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("c.db").to_string_lossy().into_owned();
        let mut writer = establish(&url).expect("connection");
        writer
            .batch_execute("PRAGMA wal_autocheckpoint = 0; CREATE TABLE n (v INTEGER)")
            .expect("table");
        for v in 0..50 {
            writer
                .batch_execute(&format!("INSERT INTO n VALUES ({v})"))
                .expect("insert");
        }
        // Everything is still in the WAL: the file holds page 1 alone.
        let before = file_size(&dir);
        let checkpoints = Checkpointer::new(&url);
        assert!(checkpoints.running());
        std::thread::sleep(PAUSE * 3);
        assert_eq!(file_size(&dir), before, "no commit told, no checkpoint");
        checkpoints.committed();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while file_size(&dir) == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the table's pages never reached the database file"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
