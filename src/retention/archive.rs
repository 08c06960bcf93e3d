//! The offline archive format. A run is a folder `run-<id>` of segments
//! `part-NNNNN.jsonl.gz`, each a sequence of gzip members; every member holds
//! whole JSON lines, one archived subscriber per line. The first line of the
//! first segment describes the format. `manifest.json` lists the segments
//! with their sizes, record counts and SHA-256 once the run is complete.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RetentionError;
use crate::db::schema::dm_accounts;
use crate::registry::audit::AuditEvent;
use crate::registry::device::Device;
use crate::registry::profile::Profile;

pub const FORMAT: &str = "mdm-offline-archive";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub run: i64,
    pub cutoff: i64,
    pub created_at: i64,
    pub describes: String,
}

/// One archived subscriber: the profile, its devices and their history; or,
/// with `retired`, one handset an ESN change retired, under its subscriber.
/// The devices' OMA-DM accounts and FOTA sessions are in archives written
/// since they were kept (empty in older ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub retired: bool,
    pub profile: serde_json::Value,
    pub devices: Vec<serde_json::Value>,
    pub audit: Vec<serde_json::Value>,
    #[serde(default)]
    pub dm_accounts: Vec<ArchivedAccount>,
    #[serde(default)]
    pub fota_sessions: Vec<ArchivedSession>,
}

/// A device's OMA-DM account as stored: its passwords stay sealed (under
/// the secrets key and the device's old id, which a restore opens and seals
/// again for the new one).
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, Serialize, Deserialize)]
#[diesel(table_name = dm_accounts)]
pub struct ArchivedAccount {
    pub device_id: i64,
    pub server_id: String,
    pub server_password: String,
    pub client_username: String,
    pub client_password: String,
    pub client_nonce: String,
    pub server_nonce: String,
    pub updated_at: i64,
}

/// A device's FOTA session with every state change it went through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedSession {
    pub id: i64,
    pub device_id: i64,
    pub protocol: String,
    pub state: String,
    pub from_version: String,
    pub to_version: Option<String>,
    pub package_id: Option<i64>,
    pub correlator: Option<String>,
    pub result_code: Option<i32>,
    pub detail: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub events: Vec<ArchivedEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub at: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub detail: String,
}

/// The same shape as [`Record`], serialized straight from the rows (no
/// intermediate JSON tree: the purge writes a million of these).
#[derive(Serialize)]
pub struct RecordRef<'a> {
    pub profile: ArchivedProfile<'a>,
    pub devices: &'a [Device],
    pub audit: &'a [AuditEvent],
    pub dm_accounts: &'a [ArchivedAccount],
    pub fota_sessions: &'a [ArchivedSession],
}

/// A profile as archived: with the self-service PIN's argon2id hash, which
/// the profile's own serialization leaves out, so that a restored subscriber
/// can still sign in. Archives written before it have no `pin_hash`.
#[derive(Serialize)]
pub struct ArchivedProfile<'a> {
    #[serde(flatten)]
    pub profile: &'a Profile,
    pub pin_hash: Option<&'a str>,
}

/// The subscriber a retired handset belonged to.
#[derive(Serialize)]
pub struct Owner {
    pub id: Option<i64>,
    pub mdn: Option<String>,
}

/// A retired handset as archived.
#[derive(Serialize)]
pub struct RetiredRef<'a> {
    pub retired: bool,
    pub profile: Owner,
    pub devices: &'a [Device],
    pub audit: &'a [AuditEvent],
    pub dm_accounts: &'a [ArchivedAccount],
    pub fota_sessions: &'a [ArchivedSession],
}

impl Record {
    pub fn mdn(&self) -> &str {
        self.profile["mdn"].as_str().unwrap_or("")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentInfo {
    pub file: String,
    pub bytes: u64,
    pub records: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub run: i64,
    pub cutoff: i64,
    pub finished_at: i64,
    pub profiles: i64,
    pub devices: i64,
    pub segments: Vec<SegmentInfo>,
}

pub fn run_dir(root: &Path, run: i64) -> PathBuf {
    root.join(format!("run-{run:06}"))
}

pub fn segment_path(root: &Path, run: i64, segment: i32) -> PathBuf {
    run_dir(root, run).join(format!("part-{segment:05}.jsonl.gz"))
}

/// Appends one gzip member holding `lines` to a segment after cutting the
/// file back to `committed` bytes (dropping what an interrupted run wrote but
/// never committed), and flushes it to disk. Returns the new length. A
/// segment shorter than `committed` (missing, or another node's copy) is
/// refused, never padded: what it lacks is only in the archive it came from.
pub fn append_member(path: &Path, committed: u64, lines: &[String]) -> Result<u64, RetentionError> {
    if let Some(dir) = path.parent() {
        if committed == 0 {
            fs::create_dir_all(dir)?;
        }
    }
    let mut file = OpenOptions::new()
        .create(committed == 0)
        .read(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(|e| {
            RetentionError::Format(format!(
                "{} cannot be opened ({e}); it should hold {committed} committed bytes",
                path.display()
            ))
        })?;
    let len = file.metadata()?.len();
    if len < committed {
        return Err(RetentionError::Format(format!(
            "{} holds {len} bytes, fewer than the {committed} committed",
            path.display()
        )));
    }
    file.set_len(committed)?;
    file.seek(SeekFrom::Start(committed))?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    for l in lines {
        gz.write_all(l.as_bytes())?;
        gz.write_all(b"\n")?;
    }
    let member = gz.finish()?;
    file.write_all(&member)?;
    file.sync_all()?;
    Ok(committed + member.len() as u64)
}

/// Every line of a segment, in order.
pub fn read_lines(path: &Path) -> Result<Vec<String>, RetentionError> {
    let reader = BufReader::new(MultiGzDecoder::new(File::open(path)?));
    reader
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(RetentionError::from)
}

fn sha256_file(path: &Path) -> Result<String, RetentionError> {
    let mut h = Sha256::new();
    let mut f = File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Writes the manifest of a finished run (atomically: temp file, rename).
pub fn write_manifest(
    root: &Path,
    run: i64,
    cutoff: i64,
    profiles: i64,
    devices: i64,
) -> Result<Manifest, RetentionError> {
    let dir = run_dir(root, run);
    fs::create_dir_all(&dir)?;
    let mut names: Vec<String> = fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-") && n.ends_with(".jsonl.gz"))
        .collect();
    names.sort();
    let mut segments = Vec::new();
    for n in names {
        let p = dir.join(&n);
        let records = read_lines(&p)?
            .iter()
            .filter(|l| !l.contains(&format!("\"format\":\"{FORMAT}\"")))
            .count() as u64;
        segments.push(SegmentInfo {
            bytes: fs::metadata(&p)?.len(),
            sha256: sha256_file(&p)?,
            records,
            file: n,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        version: 1,
        run,
        cutoff,
        finished_at: crate::db::now_ms(),
        profiles,
        devices,
        segments,
    };
    let tmp = dir.join("manifest.json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join("manifest.json"))?;
    Ok(manifest)
}

pub fn read_manifest(root: &Path, run: i64) -> Result<Manifest, RetentionError> {
    let p = run_dir(root, run).join("manifest.json");
    let bytes = fs::read(&p).map_err(|_| RetentionError::NotFound(run))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Every record of a run, checking each segment against the manifest first.
pub fn read_records(root: &Path, run: i64) -> Result<Vec<Record>, RetentionError> {
    let manifest = read_manifest(root, run)?;
    let mut out = Vec::new();
    for s in &manifest.segments {
        let p = run_dir(root, run).join(&s.file);
        if sha256_file(&p)? != s.sha256 {
            return Err(RetentionError::Format(format!(
                "{} does not match its checksum in the manifest",
                s.file
            )));
        }
        for line in read_lines(&p)? {
            if line.contains(&format!("\"format\":\"{FORMAT}\"")) {
                continue;
            }
            out.push(serde_json::from_str(&line)?);
        }
    }
    Ok(out)
}

/// What an abandoned run's archive still holds: its records, and what could
/// not be read (for the restore's report).
#[derive(Debug, Default)]
pub struct Salvaged {
    pub records: Vec<Record>,
    pub notes: Vec<String>,
}

/// Every record a run without a manifest committed (an abandoned run): its
/// segments before `segment` whole, and the first `committed` bytes of
/// `segment`, so nothing written but never committed (whose subscribers are
/// still in the database) is read. A missing segment, or one cut short, is
/// noted and what it still holds whole is read; a line that does not parse
/// is noted and left out.
pub fn read_committed(
    root: &Path,
    run: i64,
    segment: i32,
    committed: u64,
) -> Result<Salvaged, RetentionError> {
    use std::io::Read;
    let mut out = Salvaged::default();
    let header = format!("\"format\":\"{FORMAT}\"");
    for n in 1..=segment {
        let limit = if n < segment { u64::MAX } else { committed };
        if limit == 0 {
            continue;
        }
        let path = segment_path(root, run, n);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                out.notes.push(format!(
                    "{} cannot be read ({e}): the subscribers it held cannot be restored",
                    path.display()
                ));
                continue;
            }
        };
        let len = file.metadata()?.len();
        if n == segment && len < committed {
            out.notes.push(format!(
                "{} holds {len} of the {committed} bytes committed: what it lacks cannot be restored",
                path.display()
            ));
        }
        let mut reader = BufReader::new(MultiGzDecoder::new(file.take(limit)));
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.last() != Some(&b'\n') => {
                    out.notes.push(format!(
                        "{} ends in the middle of a record, which was left out",
                        path.display()
                    ));
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    out.notes.push(format!(
                        "{} cannot be read past a point ({e}): the records after it cannot be restored",
                        path.display()
                    ));
                    break;
                }
            }
            let text = String::from_utf8_lossy(&line);
            if text.contains(&header) {
                continue;
            }
            match serde_json::from_str(text.trim_end()) {
                Ok(r) => out.records.push(r),
                Err(e) => out.notes.push(format!(
                    "{}: a record that does not parse ({e}) was left out",
                    path.display()
                )),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_member_is_cut_off_when_the_run_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("part.jsonl.gz");
        let a = append_member(&p, 0, &["{\"n\":1}".into()]).unwrap();
        // A crash after writing member 2 but before committing it...
        append_member(&p, a, &["{\"n\":2}".into()]).unwrap();
        // ...and the resumed run writes it again from the committed length.
        let b = append_member(&p, a, &["{\"n\":2}".into(), "{\"n\":3}".into()]).unwrap();
        assert_eq!(
            read_lines(&p).unwrap(),
            ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"]
        );
        assert_eq!(fs::metadata(&p).unwrap().len(), b);
    }

    #[test]
    fn an_abandoned_run_reads_what_it_committed_and_notes_what_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rec = |mdn: &str| {
            format!("{{\"profile\":{{\"mdn\":\"{mdn}\"}},\"devices\":[],\"audit\":[]}}")
        };
        let one = segment_path(root, 7, 1);
        let a = append_member(&one, 0, &[format!("{{\"format\":\"{FORMAT}\"}}")]).unwrap();
        let b = append_member(&one, a, &[rec("1"), rec("2")]).unwrap();
        // Written but never committed: its subscribers are still live.
        append_member(&one, b, &[rec("3")]).unwrap();
        let got = read_committed(root, 7, 1, b).unwrap();
        let mdns: Vec<_> = got.records.iter().map(|r| r.mdn().to_string()).collect();
        assert_eq!(mdns, ["1", "2"]);
        assert!(got.notes.is_empty(), "{:?}", got.notes);
        // Segment 2 is lost: segment 1 still reads, the loss is noted.
        let got = read_committed(root, 7, 2, 100).unwrap();
        assert_eq!(got.records.len(), 3, "segment 1 is whole before segment 2");
        assert!(got.notes[0].contains("part-00002"), "{:?}", got.notes);
        // Cut short inside its last member: what is whole before it reads.
        let bytes = fs::read(&one).unwrap();
        fs::write(&one, &bytes[..b as usize - 3]).unwrap();
        let got = read_committed(root, 7, 1, b).unwrap();
        assert!(got.records.len() <= 2);
        assert!(
            got.notes.iter().any(|n| n.contains("bytes committed")),
            "{:?}",
            got.notes
        );
    }

    #[test]
    fn a_missing_or_short_segment_is_refused_not_padded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run-000001").join("part-00001.jsonl.gz");
        assert!(append_member(&p, 100, &["{}".into()]).is_err());
        assert!(!p.exists(), "nothing is created for a committed length");
        let a = append_member(&p, 0, &["{\"n\":1}".into()]).unwrap();
        assert!(append_member(&p, a + 1, &["{}".into()]).is_err());
        assert_eq!(fs::metadata(&p).unwrap().len(), a, "not extended");
        assert_eq!(read_lines(&p).unwrap(), ["{\"n\":1}"]);
    }
}
