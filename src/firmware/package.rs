//! Firmware packages: what they update, their lifecycle
//! (draft → testing → released → withdrawn) with a revision history of every
//! change, and the choice of the package for a device's make-model-version.

use std::cmp::Ordering;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::blobs::StoredBlob;
use super::FirmwareError;
use crate::db::schema::{firmware_packages, firmware_revisions, install_notifications};
use crate::db::{now_ms, DbConnection};
use crate::registry::fields::Checker;
use crate::registry::{version, Actor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    Draft,
    Testing,
    Released,
    Withdrawn,
}

impl PackageState {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageState::Draft => "draft",
            PackageState::Testing => "testing",
            PackageState::Released => "released",
            PackageState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<PackageState> {
        match s.trim().to_ascii_lowercase().as_str() {
            "draft" => Some(PackageState::Draft),
            "testing" => Some(PackageState::Testing),
            "released" => Some(PackageState::Released),
            "withdrawn" => Some(PackageState::Withdrawn),
            _ => None,
        }
    }

    /// The moves the lifecycle allows. A withdrawn package can go back to
    /// testing (e.g. after a fix to its notes), never straight to released.
    pub fn next(self) -> &'static [PackageState] {
        match self {
            PackageState::Draft => &[PackageState::Testing],
            PackageState::Testing => &[PackageState::Released, PackageState::Draft],
            PackageState::Released => &[PackageState::Withdrawn],
            PackageState::Withdrawn => &[PackageState::Testing],
        }
    }

    /// Whether devices may download it: testers' devices need testing packages too.
    pub fn downloadable(self) -> bool {
        matches!(self, PackageState::Testing | PackageState::Released)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = firmware_packages)]
pub struct Package {
    pub id: i64,
    pub name: String,
    pub make: String,
    pub model: String,
    pub from_version: Option<String>,
    pub to_version: String,
    pub size: i64,
    pub sha256: String,
    pub release_notes: String,
    pub mandatory: bool,
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Package {
    pub fn state(&self) -> PackageState {
        PackageState::parse(&self.state).unwrap_or(PackageState::Draft)
    }

    pub fn is_full_image(&self) -> bool {
        self.from_version.is_none()
    }

    pub fn path_label(&self) -> String {
        match &self.from_version {
            Some(f) => format!("{f} → {}", self.to_version),
            None => format!("full image {}", self.to_version),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = firmware_revisions)]
pub struct Revision {
    pub id: i64,
    pub package_id: i64,
    pub at: i64,
    pub actor: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = install_notifications)]
pub struct InstallNotification {
    pub id: i64,
    pub package_id: i64,
    pub status_code: i32,
    pub status_text: String,
    pub remote: String,
    pub at: i64,
}

/// What a firmware manager says about a new package.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageDraft {
    pub name: Option<String>,
    pub make: Option<String>,
    pub model: Option<String>,
    /// Empty for a full image.
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub release_notes: Option<String>,
    pub mandatory: Option<bool>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = firmware_packages)]
struct NewPackage {
    name: String,
    make: String,
    model: String,
    from_version: Option<String>,
    to_version: String,
    size: i64,
    sha256: String,
    release_notes: String,
    mandatory: bool,
    state: &'static str,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

/// A draft checked before the upload is accepted.
#[derive(Debug, Clone)]
pub struct CheckedPackage {
    name: String,
    make: String,
    model: String,
    from_version: Option<String>,
    to_version: String,
    release_notes: String,
    mandatory: bool,
}

impl PackageDraft {
    pub fn check(&self) -> Result<CheckedPackage, FirmwareError> {
        let mut c = Checker::new();
        let make = c.text("make", &self.make, 64);
        let model = c.text("model", &self.model, 64);
        let from_version = c.opt_text("from_version", &self.from_version, 64);
        let to_version = c.text("to_version", &self.to_version, 64);
        if let Some(f) = &from_version {
            if !to_version.is_empty() && version::compare(f, &to_version) != Ordering::Less {
                c.fail("to_version", format!("must be a later version than {f}"));
            }
        }
        let release_notes = c
            .opt_text("release_notes", &self.release_notes, 8000)
            .unwrap_or_default();
        let name = c
            .opt_text("name", &self.name, 128)
            .unwrap_or_else(|| match &from_version {
                Some(f) => format!("{make} {model} {f} to {to_version}"),
                None => format!("{make} {model} {to_version} full image"),
            });
        if !c.errors.is_empty() {
            return Err(FirmwareError::Invalid(c.errors));
        }
        Ok(CheckedPackage {
            name,
            make,
            model,
            from_version,
            to_version,
            release_notes,
            mandatory: self.mandatory.unwrap_or(false),
        })
    }
}

fn record_revision(
    conn: &mut DbConnection,
    package_id: i64,
    actor: &Actor,
    from: Option<PackageState>,
    to: PackageState,
    note: &str,
) -> QueryResult<()> {
    diesel::insert_into(firmware_revisions::table)
        .values((
            firmware_revisions::package_id.eq(package_id),
            firmware_revisions::at.eq(now_ms()),
            firmware_revisions::actor.eq(actor.to_string()),
            firmware_revisions::from_state.eq(from.map(|s| s.as_str())),
            firmware_revisions::to_state.eq(to.as_str()),
            firmware_revisions::note.eq(note),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Records a package whose blob is already stored; it starts as a draft.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    checked: &CheckedPackage,
    blob: &StoredBlob,
) -> Result<Package, FirmwareError> {
    let now = now_ms();
    crate::db::write(conn, |conn| {
        let exists: Option<i64> = firmware_packages::table
            .filter(firmware_packages::make.eq(&checked.make))
            .filter(firmware_packages::model.eq(&checked.model))
            .filter(firmware_packages::to_version.eq(&checked.to_version))
            .filter(firmware_packages::sha256.eq(&blob.sha256))
            .select(firmware_packages::id)
            .first(conn)
            .optional()?;
        if let Some(id) = exists {
            return Err(FirmwareError::Transition(format!(
                "this file is already package {id}"
            )));
        }
        diesel::insert_into(firmware_packages::table)
            .values(NewPackage {
                name: checked.name.clone(),
                make: checked.make.clone(),
                model: checked.model.clone(),
                from_version: checked.from_version.clone(),
                to_version: checked.to_version.clone(),
                size: blob.size as i64,
                sha256: blob.sha256.clone(),
                release_notes: checked.release_notes.clone(),
                mandatory: checked.mandatory,
                state: PackageState::Draft.as_str(),
                created_by: actor.to_string(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        let created: Package = firmware_packages::table
            .filter(firmware_packages::sha256.eq(&blob.sha256))
            .filter(firmware_packages::to_version.eq(&checked.to_version))
            .order(firmware_packages::id.desc())
            .select(Package::as_select())
            .first(conn)?;
        record_revision(
            conn,
            created.id,
            actor,
            None,
            PackageState::Draft,
            "uploaded",
        )?;
        Ok(created)
    })
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Package, FirmwareError> {
    crate::native!(conn, |c| firmware_packages::table
        .find(id)
        .select(Package::as_select())
        .first(c)
        .optional())?
    .ok_or_else(|| FirmwareError::NotFound(format!("package {id}")))
}

/// Packages newest first, from just before the package `before` on: the
/// API's pages, keyed on the id because uploads never stop while the
/// portal's by-model list ([`list`]) has no key to resume from.
pub fn page(conn: &mut DbConnection, before: Option<i64>, limit: i64) -> QueryResult<Vec<Package>> {
    firmware_packages::table
        .filter(firmware_packages::id.lt(before.unwrap_or(i64::MAX)))
        .order(firmware_packages::id.desc())
        .limit(limit)
        .select(Package::as_select())
        .load(conn)
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Package>> {
    firmware_packages::table
        .order((
            firmware_packages::make,
            firmware_packages::model,
            firmware_packages::id.desc(),
        ))
        .select(Package::as_select())
        .load(conn)
}

/// Moves a package along its lifecycle, recording who did it and why.
pub fn transition(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    to: PackageState,
    note: &str,
) -> Result<Package, FirmwareError> {
    crate::db::write(conn, |conn| {
        let p = get(conn, id)?;
        let from = p.state();
        if !from.next().contains(&to) {
            return Err(FirmwareError::Transition(format!(
                "a {} package cannot become {}",
                from.as_str(),
                to.as_str()
            )));
        }
        diesel::update(firmware_packages::table.find(id))
            .set((
                firmware_packages::state.eq(to.as_str()),
                firmware_packages::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        record_revision(conn, id, actor, Some(from), to, note.trim())?;
        get(conn, id)
    })
}

/// Edits the release notes and the mandatory flag; kept in the history too.
pub fn edit_notes(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    notes: &str,
    mandatory: bool,
) -> Result<Package, FirmwareError> {
    if notes.chars().count() > 8000 {
        return Err(FirmwareError::invalid(
            "release_notes",
            "must be at most 8000 characters",
        ));
    }
    crate::db::write(conn, |conn| {
        let p = get(conn, id)?;
        diesel::update(firmware_packages::table.find(id))
            .set((
                firmware_packages::release_notes.eq(notes.trim()),
                firmware_packages::mandatory.eq(mandatory),
                firmware_packages::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        let state = p.state();
        let change = edit_note(&p.release_notes, notes.trim(), p.mandatory, mandatory);
        record_revision(conn, id, actor, Some(state), state, &change)?;
        get(conn, id)
    })
}

/// Characters of each version of the notes a revision keeps: enough to see
/// what changed, while a history of many edits of 8000-character notes stays
/// small.
const NOTES_EXCERPT: usize = 500;

/// What an edit changed, old and new, for the revision history.
fn edit_note(old: &str, new: &str, was_mandatory: bool, mandatory: bool) -> String {
    let quoted = |t: &str| {
        if t.is_empty() {
            return "(none)".to_string();
        }
        let mut q: String = t.chars().take(NOTES_EXCERPT).collect();
        if t.chars().count() > NOTES_EXCERPT {
            q.push('…');
        }
        format!("\"{q}\"")
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut lines = Vec::new();
    if old != new {
        lines.push(format!("release notes: {} → {}", quoted(old), quoted(new)));
    }
    if was_mandatory != mandatory {
        lines.push(format!(
            "mandatory: {} → {}",
            yes_no(was_mandatory),
            yes_no(mandatory)
        ));
    }
    if lines.is_empty() {
        "release notes saved unchanged".into()
    } else {
        lines.join("\n")
    }
}

pub fn revisions(conn: &mut DbConnection, id: i64) -> QueryResult<Vec<Revision>> {
    firmware_revisions::table
        .filter(firmware_revisions::package_id.eq(id))
        .order(firmware_revisions::id.desc())
        .select(Revision::as_select())
        .load(conn)
}

/// The released package for a device at this make-model-version: a delta
/// from exactly this version if there is one, else a full image of a later
/// version; the newest target wins.
pub fn find_update(
    conn: &mut DbConnection,
    make: &str,
    model: &str,
    current: &str,
) -> QueryResult<Option<Package>> {
    let candidates: Vec<Package> = crate::native!(conn, |c| firmware_packages::table
        .filter(firmware_packages::make.eq(make))
        .filter(firmware_packages::model.eq(model))
        .filter(firmware_packages::state.eq(PackageState::Released.as_str()))
        .select(Package::as_select())
        .load(c))?;
    Ok(choose(candidates, current))
}

fn choose(candidates: Vec<Package>, current: &str) -> Option<Package> {
    let newer = |p: &Package| version::compare(&p.to_version, current) == Ordering::Greater;
    let best = |ps: Vec<Package>| {
        ps.into_iter()
            .max_by(|a, b| version::compare(&a.to_version, &b.to_version))
    };
    let (deltas, fulls): (Vec<Package>, Vec<Package>) = candidates
        .into_iter()
        .filter(|p| newer(p))
        .partition(|p| !p.is_full_image());
    let deltas: Vec<Package> = deltas
        .into_iter()
        .filter(|p| {
            p.from_version
                .as_deref()
                .is_some_and(|f| version::compare(f, current) == Ordering::Equal)
        })
        .collect();
    best(deltas).or_else(|| best(fulls))
}

pub fn record_install(
    conn: &mut DbConnection,
    package_id: i64,
    code: u16,
    text: &str,
    remote: &str,
) -> Result<(), FirmwareError> {
    use diesel::sql_types::{BigInt, Integer, Text};
    let state = firmware_packages::state;
    // Inserted from the package's row only while devices may download it,
    // so "no such package" (a draft or withdrawn one is none, as for the
    // descriptor) costs no read of its own.
    let source = firmware_packages::table
        .filter(firmware_packages::id.eq(package_id))
        .filter(
            state
                .eq(PackageState::Testing.as_str())
                .or(state.eq(PackageState::Released.as_str())),
        )
        .select((
            firmware_packages::id,
            i32::from(code).into_sql::<Integer>(),
            text.into_sql::<Text>(),
            remote.into_sql::<Text>(),
            now_ms().into_sql::<BigInt>(),
        ));
    let inserted = crate::native!(conn, |c| diesel::insert_into(install_notifications::table)
        .values(source)
        .into_columns((
            install_notifications::package_id,
            install_notifications::status_code,
            install_notifications::status_text,
            install_notifications::remote,
            install_notifications::at,
        ))
        .execute(c))?;
    if inserted == 0 {
        return Err(FirmwareError::NotFound(format!("package {package_id}")));
    }
    Ok(())
}

pub fn installs(
    conn: &mut DbConnection,
    package_id: i64,
    limit: i64,
) -> QueryResult<Vec<InstallNotification>> {
    install_notifications::table
        .filter(install_notifications::package_id.eq(package_id))
        .order(install_notifications::id.desc())
        .limit(limit)
        .select(InstallNotification::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: i64, from: Option<&str>, to: &str) -> Package {
        Package {
            id,
            name: String::new(),
            make: "M".into(),
            model: "X".into(),
            from_version: from.map(Into::into),
            to_version: to.into(),
            size: 1,
            sha256: String::new(),
            release_notes: String::new(),
            mandatory: false,
            state: "released".into(),
            created_by: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_delta_from_the_current_version_beats_a_full_image() {
        let c = vec![
            pkg(1, Some("1.0"), "1.1"),
            pkg(2, None, "1.2"),
            pkg(3, Some("0.9"), "1.3"),
        ];
        assert_eq!(choose(c.clone(), "1.0").map(|p| p.id), Some(1));
        assert_eq!(choose(c.clone(), "1.1").map(|p| p.id), Some(2));
        assert!(choose(c, "1.2").is_none());
    }

    #[test]
    fn the_lifecycle_only_moves_forward_through_testing() {
        assert!(PackageState::Draft.next().contains(&PackageState::Testing));
        assert!(!PackageState::Draft.next().contains(&PackageState::Released));
        assert!(PackageState::Released
            .next()
            .contains(&PackageState::Withdrawn));
        assert!(!PackageState::Withdrawn
            .next()
            .contains(&PackageState::Released));
    }

    #[test]
    fn an_edit_is_recorded_with_its_old_and_new_text_cut_to_a_bound() {
        assert_eq!(
            edit_note("Better battery", "Fixes 911 audio", false, true),
            "release notes: \"Better battery\" → \"Fixes 911 audio\"\nmandatory: no → yes"
        );
        assert_eq!(
            edit_note("", "x", true, true),
            "release notes: (none) → \"x\""
        );
        assert_eq!(
            edit_note("same", "same", false, false),
            "release notes saved unchanged"
        );
        let long = "é".repeat(8000);
        let note = edit_note(&long, "", false, false);
        assert_eq!(
            note,
            format!("release notes: \"{}…\" → (none)", "é".repeat(NOTES_EXCERPT))
        );
    }
}
