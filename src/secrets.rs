//! Secrets the platform must be able to read back (the OMA-DM shared
//! secrets: the digests and the OMA CP bootstrap need them in clear) are
//! stored sealed with AES-256-GCM under a key that is not in the database,
//! so a copy of the database (a backup, a replica, a DBA's query) does not
//! give away the credentials of every handset and of the server.
//!
//! Each sealed value names what it is (table, column and row) as associated
//! data: a sealed value copied into another row or column does not open.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;

/// What a sealed value starts with; anything else is a value stored before
/// sealing existed, read as it is until it is sealed.
const PREFIX: &str = "sealed:v1:";
/// A SQL `LIKE` pattern matching sealed values.
pub const LIKE_SEALED: &str = "sealed:v1:%";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Names where the key came from: the variable, or the key file.
    #[error("{0} must be 64 hex digits (32 bytes)")]
    BadKey(String),
    #[error("the secrets key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    /// Wrong key (another node's, or a lost key file) or a tampered value.
    #[error("a stored secret ({0}) cannot be opened with this node's secrets key")]
    Unreadable(String),
}

/// The node's secrets key and the cipher over it, and during a rotation
/// the key being retired, which still opens what it sealed.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
    previous: Option<Aes256Gcm>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
            previous: None,
        }
    }

    /// This vault, also opening what `previous` sealed.
    pub fn with_previous(mut self, previous: &[u8; 32]) -> Vault {
        self.previous = Some(Aes256Gcm::new(previous.into()));
        self
    }

    /// Whether a key is being rotated out.
    pub fn is_rotating(&self) -> bool {
        self.previous.is_some()
    }

    /// [`Vault::load`], with the key being rotated out when one is given
    /// (`MDM_SECRETS_PREVIOUS_KEY`, 64 hex digits).
    pub fn load_rotating(
        configured: Option<&str>,
        previous: Option<&str>,
        data_dir: &Path,
    ) -> Result<Vault, SecretsError> {
        let vault = Vault::load(configured, data_dir)?;
        match previous {
            Some(hexkey) => {
                Ok(vault.with_previous(&parse_key(hexkey, "MDM_SECRETS_PREVIOUS_KEY")?))
            }
            None => Ok(vault),
        }
    }

    /// `MDM_SECRETS_KEY` (64 hex digits) when set, which every node sharing
    /// a database must have; else the key in `secrets.key` in the data dir,
    /// generated there on the first start.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Vault, SecretsError> {
        if let Some(hexkey) = configured {
            return parse_key(hexkey, "MDM_SECRETS_KEY").map(|k| Vault::from_key(&k));
        }
        let path = data_dir.join("secrets.key");
        let file_error = |source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        // A damaged key file is an error, never replaced: a new key would
        // leave every sealed secret unreadable.
        if let Some(key) = read_key_file(&path)? {
            return Ok(Vault::from_key(&key));
        }
        std::fs::create_dir_all(data_dir).map_err(file_error)?;
        let key: [u8; 32] = rand::random();
        match publish_new_key(data_dir, &path, &hex::encode(key)) {
            Ok(()) => {}
            // Another process of this node starting at the same moment
            // published its key first: that one is the node's key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(file_error(e)),
        }
        // Always the key on disk, whoever wrote it: every process starting
        // together ends with the same key.
        match read_key_file(&path)? {
            Some(key) => Ok(Vault::from_key(&key)),
            None => Err(file_error(std::io::ErrorKind::NotFound.into())),
        }
    }

    /// Seals `plain` as the value of `what` (e.g. `dm_accounts.client_password:42`).
    pub fn seal(&self, what: &str, plain: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: what.as_bytes(),
        };
        // AES-GCM encryption fails only for messages over 64 GiB.
        let sealed = match self.cipher.encrypt(Nonce::from_slice(&nonce), payload) {
            Ok(sealed) => sealed,
            Err(_) => unreachable!(
                "a secret of {} bytes is within AES-GCM's limit",
                plain.len()
            ),
        };
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(bytes))
    }

    /// The clear value of a stored secret of `what`: opened when sealed
    /// (by the current key or the one being retired), as it is when stored
    /// before sealing.
    pub fn open(&self, what: &str, stored: &str) -> Result<String, SecretsError> {
        if !is_sealed(stored) {
            return Ok(stored.to_string());
        }
        open_with(&self.cipher, what, stored).or_else(|e| match &self.previous {
            Some(previous) => open_with(previous, what, stored),
            None => Err(e),
        })
    }

    /// Whether a stored value needs sealing under the current key: stored
    /// in clear, or sealed by the key being rotated out.
    pub fn needs_sealing(&self, what: &str, stored: &str) -> bool {
        !is_sealed(stored) || (self.is_rotating() && open_with(&self.cipher, what, stored).is_err())
    }
}

/// Opens a sealed value with one key.
fn open_with(cipher: &Aes256Gcm, what: &str, stored: &str) -> Result<String, SecretsError> {
    let unreadable = || SecretsError::Unreadable(what.to_string());
    let encoded = stored.strip_prefix(PREFIX).ok_or_else(unreadable)?;
    let bytes = B64.decode(encoded).map_err(|_| unreadable())?;
    if bytes.len() < NONCE_LEN {
        return Err(unreadable());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let payload = Payload {
        msg: sealed,
        aad: what.as_bytes(),
    };
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), payload)
        .map_err(|_| unreadable())?;
    String::from_utf8(plain).map_err(|_| unreadable())
}

/// Whether a stored value is sealed (and not a value from before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The key `hexkey` spells; `source` names where it came from, for the error.
fn parse_key(hexkey: &str, source: &str) -> Result<[u8; 32], SecretsError> {
    hex::decode(hexkey)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| SecretsError::BadKey(source.to_string()))
}

/// Whether `hexkey` is a usable secrets key (64 hex digits), for the
/// configuration check at start.
pub fn check_key(hexkey: &str) -> Result<(), String> {
    parse_key(hexkey, "")
        .map(drop)
        .map_err(|_| "must be 64 hex digits (32 bytes)".to_string())
}

/// The key in the key file at `path`, or `None` when there is none yet.
fn read_key_file(path: &Path) -> Result<Option<[u8; 32]>, SecretsError> {
    match std::fs::read_to_string(path) {
        Ok(existing) => parse_key(
            existing.trim(),
            &format!("the secrets key file {}", path.display()),
        )
        .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Publishes a new key file, readable by its owner only, at `path` unless
/// one is there: written whole to a temporary file of its own in the same
/// directory, then hard-linked to `path`, which fails with `AlreadyExists`
/// when another process published first. The key file thus appears whole
/// or not at all, and is never replaced: a process reading it never sees
/// it empty or half written, and a key that sealed secrets never vanishes.
fn publish_new_key(dir: &Path, path: &Path, hexkey: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(
        ".secrets.key.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(hexkey.as_bytes())?;
        file.sync_all()
    });
    let published = written.and_then(|()| std::fs::hard_link(&tmp, path));
    // The temporary name goes either way; the key lives on under `path`
    // when the link was made.
    let _ = std::fs::remove_file(&tmp);
    published?;
    sync_dir(dir);
    Ok(())
}

/// Makes a new directory entry durable, so a key that sealed secrets
/// survives a power cut; best effort, as not every platform can open a
/// directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(byte: u8) -> Vault {
        Vault::from_key(&[byte; 32])
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_its_name_only() {
        let v = vault(7);
        let sealed = v.seal("dm_accounts.client_password:1", "device-secret");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("device-secret"));
        assert_eq!(
            v.open("dm_accounts.client_password:1", &sealed).unwrap(),
            "device-secret"
        );
        // Another row, another column, another key, a flipped bit: refused.
        for (vault, what) in [
            (vault(7), "dm_accounts.client_password:2"),
            (vault(7), "dm_accounts.server_password:1"),
            (vault(8), "dm_accounts.client_password:1"),
        ] {
            assert!(matches!(
                vault.open(what, &sealed),
                Err(SecretsError::Unreadable(_))
            ));
        }
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(v.open("dm_accounts.client_password:1", &tampered).is_err());
        assert!(v.open("x", "sealed:v1:").is_err());
    }

    #[test]
    fn the_like_pattern_matches_the_prefix() {
        assert_eq!(LIKE_SEALED, format!("{PREFIX}%"));
    }

    #[test]
    fn during_a_rotation_both_keys_open_and_only_the_old_ones_need_sealing() {
        let old = vault(1);
        let by_old = old.seal("a", "secret");
        let rotating = vault(2).with_previous(&[1; 32]);
        assert_eq!(rotating.open("a", &by_old).unwrap(), "secret");
        assert!(rotating.needs_sealing("a", &by_old));
        let by_new = rotating.seal("a", "secret");
        assert!(!rotating.needs_sealing("a", &by_new));
        assert!(rotating.needs_sealing("a", "in clear"));
        // After the rotation the old key opens nothing new, and the new
        // key alone opens what was re-sealed.
        assert!(old.open("a", &by_new).is_err());
        assert_eq!(vault(2).open("a", &by_new).unwrap(), "secret");
        assert!(
            !vault(2).needs_sealing("a", &by_old),
            "no rotation: not checked"
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let v = vault(1);
        assert_ne!(v.seal("a", "same"), v.seal("a", "same"));
    }

    #[test]
    fn a_value_stored_before_sealing_reads_as_it_is() {
        assert_eq!(vault(1).open("a", "plain-old").unwrap(), "plain-old");
        assert!(!is_sealed("plain-old"));
    }

    #[test]
    fn the_key_is_generated_once_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vault::load(None, dir.path()).unwrap();
        let sealed = first.seal("a", "secret");
        let again = Vault::load(None, dir.path()).unwrap();
        assert_eq!(again.open("a", &sealed).unwrap(), "secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A damaged key file is an error, not silently replaced.
        std::fs::write(dir.path().join("secrets.key"), "not hex").unwrap();
        let err = Vault::load(None, dir.path()).unwrap_err();
        assert!(matches!(err, SecretsError::BadKey(_)));
        assert!(err.to_string().contains("secrets.key"), "{err}");
    }

    #[test]
    fn a_key_published_first_by_another_process_is_kept_and_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let theirs = "0f".repeat(32);
        publish_new_key(dir.path(), &path, &theirs).unwrap();
        // The loser of the race is told, and replaces nothing.
        let err = publish_new_key(dir.path(), &path, &"1e".repeat(32)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), theirs);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secrets.key"], "no temporary file left behind");
        let loaded = Vault::load(None, dir.path()).unwrap();
        assert_eq!(loaded.open("a", &vault(0x0f).seal("a", "s")).unwrap(), "s");
    }

    #[test]
    fn a_configured_key_must_be_32_bytes_of_hex() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Vault::load(Some("abcd"), dir.path()).is_err());
        assert!(Vault::load(Some(&"zz".repeat(32)), dir.path()).is_err());
        let v = Vault::load(Some(&"0f".repeat(32)), dir.path()).unwrap();
        assert_eq!(
            v.open("a", &vault(0x0f).seal("a", "s")).unwrap(),
            "s",
            "the configured key is the key"
        );
        assert!(!dir.path().join("secrets.key").exists());
    }

    #[test]
    fn a_bad_previous_key_is_named_as_the_previous_key() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            Vault::load_rotating(Some(&"0f".repeat(32)), Some("garbage"), dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MDM_SECRETS_PREVIOUS_KEY must be 64 hex digits (32 bytes)"
        );
        let err = Vault::load_rotating(Some("garbage"), None, dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MDM_SECRETS_KEY must be 64 hex digits (32 bytes)"
        );
    }
}
