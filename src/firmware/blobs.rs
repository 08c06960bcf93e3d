//! Content-addressed storage for package files. A blob is written to a temp
//! file, hashed while written, checked, flushed and only then renamed to its
//! SHA-256 name, so a failed or bad upload leaves nothing behind and a
//! half-written file is never served.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::package::{self, Package};
use super::FirmwareError;
use crate::db::DbConnection;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
}

impl BlobStore {
    /// The store in its default place, `blobs` in the data dir.
    pub fn new(data_dir: &Path) -> BlobStore {
        BlobStore::at(&data_dir.join("blobs"))
    }

    /// The store at `root` (`MDM_BLOB_DIR`), which nodes sharing a database
    /// share.
    pub fn at(root: &Path) -> BlobStore {
        BlobStore {
            root: root.to_path_buf(),
        }
    }

    /// The store the configuration names.
    pub fn of(config: &crate::config::Config) -> BlobStore {
        BlobStore::at(&config.blob_dir)
    }

    /// Where the blob with this hash lives (whether or not it exists).
    pub fn path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.root.join("sha256").join(prefix).join(sha256)
    }

    pub fn exists(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    pub fn writer(&self, limit: u64) -> Result<BlobWriter, FirmwareError> {
        let tmp_dir = self.root.join("tmp");
        // The directory is checked at start (MDM_BLOB_DIR), but it may go
        // away later (an unmounted share): the error names the path.
        let at = |e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("{} (MDM_BLOB_DIR): {e}", tmp_dir.display()),
            )
        };
        fs::create_dir_all(&tmp_dir).map_err(at)?;
        let tmp = tmp_dir.join(format!(
            "upload-{}",
            crate::auth::password::random_secret(12)
        ));
        let file = File::create(&tmp).map_err(at)?;
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            tmp,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Stores a whole buffer (CLI and tests).
    pub fn put(&self, bytes: &[u8], limit: u64) -> Result<StoredBlob, FirmwareError> {
        let mut w = self.writer(limit)?;
        w.write(bytes)?;
        w.finish(None)
    }
}

/// A package handsets may be offered (testing or released) whose file is
/// not in this node's store: a node with its own store instead of the
/// shared one, or a file lost since.
#[derive(Debug, Clone)]
pub struct MissingFile {
    pub package: Package,
    pub path: PathBuf,
}

/// The downloadable packages whose file this store lacks. Looks at the
/// file system: run it where blocking is allowed.
pub fn missing_files(
    conn: &mut DbConnection,
    store: &BlobStore,
) -> diesel::QueryResult<Vec<MissingFile>> {
    Ok(package::list(conn)?
        .into_iter()
        .filter(|p| p.state().downloadable() && !store.exists(&p.sha256))
        .map(|p| MissingFile {
            path: store.path(&p.sha256),
            package: p,
        })
        .collect())
}

pub struct BlobWriter {
    store: BlobStore,
    file: Option<File>,
    tmp: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl BlobWriter {
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), FirmwareError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(FirmwareError::TooLarge(self.limit));
        }
        self.hasher.update(chunk);
        match self.file.as_mut() {
            Some(f) => f.write_all(chunk)?,
            None => {
                return Err(FirmwareError::Io(std::io::Error::other(
                    "writer already finished",
                )))
            }
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Checks the hash (when one was announced), flushes to disk and moves
    /// the file to its content address.
    pub fn finish(mut self, expected: Option<&str>) -> Result<StoredBlob, FirmwareError> {
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if let Some(e) = expected {
            if !e.eq_ignore_ascii_case(&sha256) {
                return Err(FirmwareError::HashMismatch {
                    expected: e.to_ascii_lowercase(),
                    actual: sha256,
                });
            }
        }
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        let target = self.store.path(&sha256);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        if target.exists() {
            // Same content already stored: keep the existing file.
            fs::remove_file(&self.tmp)?;
        } else {
            fs::rename(&self.tmp, &target)?;
        }
        Ok(StoredBlob {
            sha256,
            size: self.size,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // An unfinished upload leaves nothing behind.
        if self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_hash_and_cleans_up_failures() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let b = store.put(b"abc", 10).unwrap();
        assert_eq!(
            b.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fs::read(store.path(&b.sha256)).unwrap(), b"abc");
        assert!(matches!(
            store.put(b"too long for the limit", 5),
            Err(FirmwareError::TooLarge(5))
        ));
        let mut w = store.writer(100).unwrap();
        w.write(b"xyz").unwrap();
        assert!(matches!(
            w.finish(Some("00")),
            Err(FirmwareError::HashMismatch { .. })
        ));
        let leftovers = fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count();
        assert_eq!(leftovers, 0);
    }
}
