//! The customer profile: the central repository of a subscriber's settings
//! (identities, NAM block, PRL, 3GPD, PUZL, BREW, features, activation).

use diesel::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};

use super::audit::{self, EntityKind};
use super::fields::Checker;
use super::identifiers::{Esn, HandsetId, Imsi, Mdn, Min};
use super::{Actor, RegistryError};
use crate::db::schema::profiles;
use crate::db::{is_unique_violation, now_ms, DbConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationState {
    Pending,
    Activated,
    Deactivated,
}

impl ActivationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationState::Pending => "pending",
            ActivationState::Activated => "activated",
            ActivationState::Deactivated => "deactivated",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ActivationState::Pending => "Pending activation",
            ActivationState::Activated => "Activated",
            ActivationState::Deactivated => "De-activated",
        }
    }

    pub fn parse(s: &str) -> Option<ActivationState> {
        match s {
            "pending" => Some(ActivationState::Pending),
            "activated" => Some(ActivationState::Activated),
            "deactivated" => Some(ActivationState::Deactivated),
            _ => None,
        }
    }

    pub const ALL: [ActivationState; 3] = [
        ActivationState::Pending,
        ActivationState::Activated,
        ActivationState::Deactivated,
    ];
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = profiles)]
pub struct Profile {
    pub id: i64,
    pub mdn: String,
    pub min: String,
    pub imsi: Option<String>,
    pub account_id: String,
    pub subscriber_name: String,
    pub sid_nid_pairs: String,
    pub accolc: i32,
    pub scm: i32,
    pub mob_p_rev: i32,
    pub slot_cycle_index: i32,
    pub local_control: bool,
    pub mob_term_home: bool,
    pub mob_term_for_sid: bool,
    pub mob_term_for_nid: bool,
    pub prl_id: Option<i32>,
    pub sspr_table: Option<i32>,
    pub pending_prl_id: Option<i32>,
    pub nai: Option<String>,
    pub home_agent: Option<String>,
    pub mn_ha_spi: Option<i64>,
    pub mn_aaa_spi: Option<i64>,
    pub puzl_id: Option<i32>,
    pub brew_url: Option<String>,
    pub features: String,
    pub activation_state: String,
    pub state_changed_at: i64,
    pub new_esn: Option<String>,
    pub activated_esn: Option<String>,
    #[serde(skip)]
    pub pin_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Profile {
    pub fn state(&self) -> ActivationState {
        ActivationState::parse(&self.activation_state).unwrap_or(ActivationState::Pending)
    }

    pub fn mcc(&self) -> &str {
        self.imsi
            .as_deref()
            .map(|i| &i[..3.min(i.len())])
            .unwrap_or("")
    }

    pub fn imsi_11_12(&self) -> &str {
        self.imsi.as_deref().and_then(|i| i.get(3..5)).unwrap_or("")
    }

    pub fn imsi_s(&self) -> &str {
        self.imsi.as_deref().and_then(|i| i.get(5..)).unwrap_or("")
    }

    pub fn feature_list(&self) -> Vec<&str> {
        self.features.split(',').filter(|f| !f.is_empty()).collect()
    }

    pub fn sid_nid_list(&self) -> Vec<(u16, u16)> {
        parse_sid_nid(&self.sid_nid_pairs).unwrap_or_default()
    }
}

/// What a form, the API or an import line says a profile should be. Every
/// field is optional here so that all problems are reported together.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDraft {
    pub mdn: Option<String>,
    pub min: Option<String>,
    pub imsi: Option<String>,
    pub account_id: Option<String>,
    pub subscriber_name: Option<String>,
    pub sid_nid_pairs: Option<String>,
    pub accolc: Option<i64>,
    pub scm: Option<i64>,
    pub mob_p_rev: Option<i64>,
    pub slot_cycle_index: Option<i64>,
    pub local_control: Option<bool>,
    pub mob_term_home: Option<bool>,
    pub mob_term_for_sid: Option<bool>,
    pub mob_term_for_nid: Option<bool>,
    pub prl_id: Option<i64>,
    pub sspr_table: Option<i64>,
    pub pending_prl_id: Option<i64>,
    pub nai: Option<String>,
    pub home_agent: Option<String>,
    pub mn_ha_spi: Option<i64>,
    pub mn_aaa_spi: Option<i64>,
    pub puzl_id: Option<i64>,
    pub brew_url: Option<String>,
    #[serde(default, deserialize_with = "list_or_string")]
    pub features: Option<String>,
    pub new_esn: Option<String>,
    pub activated_esn: Option<String>,
    /// Self-service PIN; write-only.
    pub pin: Option<String>,
}

fn list_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::List(v)) => Some(v.join(",")),
        Some(Either::Text(s)) => Some(s),
    })
}

/// The validated column values of a profile.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = profiles, treat_none_as_null = true)]
pub struct ProfileValues {
    pub mdn: String,
    pub min: String,
    pub imsi: Option<String>,
    pub account_id: String,
    pub subscriber_name: String,
    pub sid_nid_pairs: String,
    pub accolc: i32,
    pub scm: i32,
    pub mob_p_rev: i32,
    pub slot_cycle_index: i32,
    pub local_control: bool,
    pub mob_term_home: bool,
    pub mob_term_for_sid: bool,
    pub mob_term_for_nid: bool,
    pub prl_id: Option<i32>,
    pub sspr_table: Option<i32>,
    pub pending_prl_id: Option<i32>,
    pub nai: Option<String>,
    pub home_agent: Option<String>,
    pub mn_ha_spi: Option<i64>,
    pub mn_aaa_spi: Option<i64>,
    pub puzl_id: Option<i32>,
    pub brew_url: Option<String>,
    pub features: String,
    pub new_esn: Option<String>,
    pub activated_esn: Option<String>,
}

impl ProfileValues {
    pub fn of(p: &Profile) -> ProfileValues {
        ProfileValues {
            mdn: p.mdn.clone(),
            min: p.min.clone(),
            imsi: p.imsi.clone(),
            account_id: p.account_id.clone(),
            subscriber_name: p.subscriber_name.clone(),
            sid_nid_pairs: p.sid_nid_pairs.clone(),
            accolc: p.accolc,
            scm: p.scm,
            mob_p_rev: p.mob_p_rev,
            slot_cycle_index: p.slot_cycle_index,
            local_control: p.local_control,
            mob_term_home: p.mob_term_home,
            mob_term_for_sid: p.mob_term_for_sid,
            mob_term_for_nid: p.mob_term_for_nid,
            prl_id: p.prl_id,
            sspr_table: p.sspr_table,
            pending_prl_id: p.pending_prl_id,
            nai: p.nai.clone(),
            home_agent: p.home_agent.clone(),
            mn_ha_spi: p.mn_ha_spi,
            mn_aaa_spi: p.mn_aaa_spi,
            puzl_id: p.puzl_id,
            brew_url: p.brew_url.clone(),
            features: p.features.clone(),
            new_esn: p.new_esn.clone(),
            activated_esn: p.activated_esn.clone(),
        }
    }
}

/// Parses "SID/NID" pairs separated by commas or spaces; SID is 15 bits and
/// NID 16 bits (C.S0016 CDMA NAM block), NID 65535 meaning "any network".
pub fn parse_sid_nid(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut pairs = Vec::new();
    for item in text.split([',', ' ', ';']).filter(|s| !s.trim().is_empty()) {
        let (sid, nid) = item
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("\"{item}\" is not a SID/NID pair such as 4145/65535"))?;
        let sid: u16 = sid
            .parse()
            .ok()
            .filter(|s| *s <= 0x7FFF)
            .ok_or_else(|| format!("SID \"{sid}\" must be a number from 0 to 32767"))?;
        let nid: u16 = nid
            .parse()
            .map_err(|_| format!("NID \"{nid}\" must be a number from 0 to 65535"))?;
        pairs.push((sid, nid));
    }
    if pairs.len() > 20 {
        return Err("at most 20 SID/NID pairs fit in a NAM".into());
    }
    Ok(pairs)
}

fn format_sid_nid(pairs: &[(u16, u16)]) -> String {
    pairs
        .iter()
        .map(|(s, n)| format!("{s}/{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why an IMSI does not fit the MIN, if it does not: the NAM carries one
/// IMSI_M, built from the MIN (C.S0005 2.3.1), so an IMSI whose last ten
/// digits (IMSI_S) are another number would never be the one programmed.
pub fn imsi_min_mismatch(imsi: &str, min: &str) -> Option<String> {
    let imsi_s = imsi.get(5..)?;
    (imsi_s != min).then(|| {
        format!("the IMSI's last ten digits ({imsi_s}) must be the MIN {min}: the handset is programmed with the MIN")
    })
}

/// Whether a self-service PIN is acceptable: 4 to 8 digits.
pub fn check_pin(pin: &str) -> Result<(), String> {
    if (4..=8).contains(&pin.len()) && pin.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err("PIN must be 4 to 8 digits".into())
    }
}

impl ProfileDraft {
    pub fn validate(&self) -> Result<ProfileValues, RegistryError> {
        let mut c = Checker::new();
        let mdn: Option<Mdn> = c.ident("mdn", &self.mdn);
        let min: Option<Min> = c.ident("min", &self.min);
        let imsi: Option<Imsi> = c.opt_ident("imsi", &self.imsi);
        let account_id = c.text("account_id", &self.account_id, 64);
        let subscriber_name = c.text("subscriber_name", &self.subscriber_name, 128);
        let sid_nid = match parse_sid_nid(self.sid_nid_pairs.as_deref().unwrap_or("")) {
            // No pair yet is allowed: a POS pre-load may not know the
            // market's home system. An activation refuses such a line
            // (call_manager) rather than programming HOME_SID 0.
            Ok(p) => format_sid_nid(&p),
            Err(e) => {
                c.fail("sid_nid_pairs", e);
                String::new()
            }
        };
        if let (Some(imsi), Some(min)) = (&imsi, &min) {
            if let Some(why) = imsi_min_mismatch(imsi.as_str(), min.as_str()) {
                c.fail("imsi", why);
            }
        }
        let accolc = c.int_or("accolc", self.accolc, 0, 15, 0);
        let scm = c.int_or("scm", self.scm, 0, 255, 234);
        let mob_p_rev = c.int_or("mob_p_rev", self.mob_p_rev, 0, 255, 6);
        let slot_cycle_index = c.int_or("slot_cycle_index", self.slot_cycle_index, 0, 7, 2);
        let prl_id = c.opt_int("prl_id", self.prl_id, 0, 65535);
        let sspr_table = c.opt_int("sspr_table", self.sspr_table, 0, 255);
        let pending_prl_id = c.opt_int("pending_prl_id", self.pending_prl_id, 0, 65535);
        let puzl_id = c.opt_int("puzl_id", self.puzl_id, 0, 65535);
        let nai = c.opt_text("nai", &self.nai, 72);
        if let Some(n) = &nai {
            if !n.contains('@') || n.chars().any(char::is_whitespace) {
                c.fail(
                    "nai",
                    "must be a network access identifier such as user@realm",
                );
            }
        }
        let home_agent = c.opt_text("home_agent", &self.home_agent, 64);
        if let Some(h) = &home_agent {
            if h.parse::<std::net::IpAddr>().is_err() {
                c.fail("home_agent", "must be an IP address");
            }
        }
        let mn_ha_spi = c.opt_int("mn_ha_spi", self.mn_ha_spi, 0, i64::from(u32::MAX));
        let mn_aaa_spi = c.opt_int("mn_aaa_spi", self.mn_aaa_spi, 0, i64::from(u32::MAX));
        let brew_url = c.url("brew_url", &self.brew_url);
        let features = super::fields::feature_list(
            &mut c.errors,
            "features",
            self.features.as_deref().unwrap_or(""),
        );
        // An ESN change's target: a real ESN or a MEID, never a pESN.
        let new_esn: Option<HandsetId> = c.opt_ident("new_esn", &self.new_esn);
        let activated_esn: Option<Esn> = c.opt_ident("activated_esn", &self.activated_esn);
        if let Some(pin) = self.pin.as_deref().filter(|p| !p.is_empty()) {
            if let Err(e) = check_pin(pin) {
                c.fail("pin", e);
            }
        }
        c.finish()?;
        let (Some(mdn), Some(min)) = (mdn, min) else {
            // The checker already failed on both, so finish() returned above.
            return Err(RegistryError::invalid("mdn", "is required"));
        };
        Ok(ProfileValues {
            mdn: mdn.to_string(),
            min: min.to_string(),
            imsi: imsi.map(|i| i.to_string()),
            account_id,
            subscriber_name,
            sid_nid_pairs: sid_nid,
            accolc: accolc as i32,
            scm: scm as i32,
            mob_p_rev: mob_p_rev as i32,
            slot_cycle_index: slot_cycle_index as i32,
            local_control: self.local_control.unwrap_or(false),
            mob_term_home: self.mob_term_home.unwrap_or(true),
            mob_term_for_sid: self.mob_term_for_sid.unwrap_or(true),
            mob_term_for_nid: self.mob_term_for_nid.unwrap_or(true),
            prl_id: prl_id.map(|v| v as i32),
            sspr_table: sspr_table.map(|v| v as i32),
            pending_prl_id: pending_prl_id.map(|v| v as i32),
            nai,
            home_agent,
            mn_ha_spi,
            mn_aaa_spi,
            puzl_id: puzl_id.map(|v| v as i32),
            brew_url,
            features,
            new_esn: new_esn.map(|e| e.to_hex()),
            activated_esn: activated_esn.map(|e| e.to_hex()),
        })
    }

    /// The draft that reproduces an existing profile, for pre-filled forms.
    pub fn from_profile(p: &Profile) -> ProfileDraft {
        ProfileDraft {
            mdn: Some(p.mdn.clone()),
            min: Some(p.min.clone()),
            imsi: p.imsi.clone(),
            account_id: Some(p.account_id.clone()),
            subscriber_name: Some(p.subscriber_name.clone()),
            sid_nid_pairs: Some(p.sid_nid_pairs.clone()),
            accolc: Some(p.accolc.into()),
            scm: Some(p.scm.into()),
            mob_p_rev: Some(p.mob_p_rev.into()),
            slot_cycle_index: Some(p.slot_cycle_index.into()),
            local_control: Some(p.local_control),
            mob_term_home: Some(p.mob_term_home),
            mob_term_for_sid: Some(p.mob_term_for_sid),
            mob_term_for_nid: Some(p.mob_term_for_nid),
            prl_id: p.prl_id.map(Into::into),
            sspr_table: p.sspr_table.map(Into::into),
            pending_prl_id: p.pending_prl_id.map(Into::into),
            nai: p.nai.clone(),
            home_agent: p.home_agent.clone(),
            mn_ha_spi: p.mn_ha_spi,
            mn_aaa_spi: p.mn_aaa_spi,
            puzl_id: p.puzl_id.map(Into::into),
            brew_url: p.brew_url.clone(),
            features: Some(p.features.clone()),
            new_esn: p.new_esn.clone(),
            activated_esn: p.activated_esn.clone(),
            pin: None,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = profiles)]
struct NewProfile<'a> {
    #[diesel(embed)]
    values: ProfileValues,
    activation_state: &'a str,
    state_changed_at: i64,
    pin_hash: Option<String>,
    created_at: i64,
    updated_at: i64,
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Profile, RegistryError> {
    profiles::table
        .find(id)
        .select(Profile::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(format!("profile {id}")))
}

pub fn by_mdn(conn: &mut DbConnection, mdn: &Mdn) -> QueryResult<Option<Profile>> {
    profiles::table
        .filter(profiles::mdn.eq(mdn.as_str()))
        .select(Profile::as_select())
        .first(conn)
        .optional()
}

fn ensure_unique_mdn(
    conn: &mut DbConnection,
    mdn: &str,
    except: Option<i64>,
) -> Result<(), RegistryError> {
    let existing: Option<i64> = profiles::table
        .filter(profiles::mdn.eq(mdn))
        .select(profiles::id)
        .first(conn)
        .optional()?;
    match existing {
        Some(id) if Some(id) != except => Err(RegistryError::Duplicate(format!(
            "MDN {mdn} is already registered to profile {id}"
        ))),
        _ => Ok(()),
    }
}

/// MIN and IMSI name the line on the air interface as the MDN does in the
/// network: two profiles sharing one would program two handsets the network
/// cannot tell apart. No unique index keeps them (older data and restored
/// archives may already share one), so a new or changed value is checked
/// here, each reported on its own field.
fn ensure_unique_air_identities(
    conn: &mut DbConnection,
    values: &ProfileValues,
    before: Option<&Profile>,
) -> Result<(), RegistryError> {
    let except = before.map_or(0, |p| p.id);
    let others = || profiles::table.filter(profiles::id.ne(except));
    let mut errors = super::FieldErrors::new();
    let min_holder: Option<i64> = if before.is_some_and(|p| p.min == values.min) {
        None
    } else {
        others()
            .filter(profiles::min.eq(&values.min))
            .select(profiles::id)
            .first(conn)
            .optional()?
    };
    if let Some(id) = min_holder {
        errors.insert(
            "min".into(),
            format!("MIN {} is already registered to profile {id}", values.min),
        );
    }
    if let Some(imsi) = values
        .imsi
        .as_ref()
        .filter(|i| before.is_none_or(|p| p.imsi.as_ref() != Some(*i)))
    {
        let imsi_holder: Option<i64> = others()
            .filter(profiles::imsi.eq(imsi))
            .select(profiles::id)
            .first(conn)
            .optional()?;
        if let Some(id) = imsi_holder {
            errors.insert(
                "imsi".into(),
                format!("IMSI {imsi} is already registered to profile {id}"),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(errors))
    }
}

/// A line's features are services the operator sells: a code the
/// catalogue does not know would never be billed or shown. One the line
/// already has may stay (the catalogue may have stopped selling it).
fn check_features(
    conn: &mut DbConnection,
    values: &ProfileValues,
    before: Option<&Profile>,
) -> Result<(), RegistryError> {
    let kept: Vec<&str> = before.map(|p| p.feature_list()).unwrap_or_default();
    let added: Vec<&str> = values
        .features
        .split(',')
        .filter(|f| !f.is_empty() && !kept.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let known = crate::features::catalogue::codes(conn)?;
    match crate::features::catalogue::unknown_codes_message(&known, &added) {
        Some(message) => Err(RegistryError::invalid("features", message)),
        None => Ok(()),
    }
}

/// The SSPR table is what IOTA downloads, and the activation writes that
/// table's PRL id onto the profile: a table that holds no PRL fails every
/// activation, and a PRL id that is not the table's would be overwritten.
/// Settings an edit leaves as they were are not held against it.
fn check_prl_settings(
    conn: &mut DbConnection,
    values: &ProfileValues,
    before: Option<&Profile>,
) -> Result<(), RegistryError> {
    use crate::db::schema::prls;
    if before.is_some_and(|p| p.sspr_table == values.sspr_table && p.prl_id == values.prl_id) {
        return Ok(());
    }
    let Some(table) = values.sspr_table else {
        return Ok(());
    };
    let held: Option<i32> = prls::table
        .filter(prls::sspr_table.eq(table))
        .select(prls::prl_id)
        .first(conn)
        .optional()?;
    match (held, values.prl_id) {
        (None, _) => Err(RegistryError::invalid(
            "sspr_table",
            format!("SSPR table {table} holds no PRL; file one under SSPR tables first"),
        )),
        (Some(held), Some(given)) if held != given => Err(RegistryError::invalid(
            "prl_id",
            format!("SSPR table {table} holds PRL {held}, not {given}"),
        )),
        _ => Ok(()),
    }
}

fn hash_pin_of(draft: &ProfileDraft) -> Result<Option<String>, RegistryError> {
    match draft.pin.as_deref().filter(|p| !p.is_empty()) {
        Some(pin) => crate::auth::password::hash(pin)
            .map(Some)
            .map_err(|e| RegistryError::invalid("pin", e.to_string())),
        None => Ok(None),
    }
}

/// Inserts a validated profile; the caller runs it inside its transaction.
pub fn insert(
    conn: &mut DbConnection,
    actor: &Actor,
    values: &ProfileValues,
    pin_hash: Option<String>,
    state: ActivationState,
) -> Result<Profile, RegistryError> {
    ensure_unique_mdn(conn, &values.mdn, None)?;
    ensure_unique_air_identities(conn, values, None)?;
    let now = now_ms();
    diesel::insert_into(profiles::table)
        .values(NewProfile {
            values: values.clone(),
            activation_state: state.as_str(),
            state_changed_at: now,
            pin_hash,
            created_at: now,
            updated_at: now,
        })
        .execute(conn)
        .map_err(|e| duplicate_or(e, &values.mdn))?;
    let created: Profile = profiles::table
        .filter(profiles::mdn.eq(&values.mdn))
        .select(Profile::as_select())
        .first(conn)?;
    audit::record(
        conn,
        actor,
        EntityKind::Profile,
        created.id,
        "created",
        &audit::snapshot(values),
    )?;
    Ok(created)
}

fn duplicate_or(e: diesel::result::Error, mdn: &str) -> RegistryError {
    if is_unique_violation(&e) {
        RegistryError::Duplicate(format!("MDN {mdn} is already registered"))
    } else {
        e.into()
    }
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    draft: &ProfileDraft,
) -> Result<Profile, RegistryError> {
    let values = draft.validate()?;
    let pin_hash = hash_pin_of(draft)?;
    crate::db::write(conn, |conn| {
        check_prl_settings(conn, &values, None)?;
        check_features(conn, &values, None)?;
        insert(conn, actor, &values, pin_hash, ActivationState::Pending)
    })
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    draft: &ProfileDraft,
) -> Result<Profile, RegistryError> {
    let values = draft.validate()?;
    let pin_hash = hash_pin_of(draft)?;
    crate::db::write(conn, |conn| {
        let before = get(conn, id)?;
        ensure_unique_mdn(conn, &values.mdn, Some(id))?;
        ensure_unique_air_identities(conn, &values, Some(&before))?;
        check_prl_settings(conn, &values, Some(&before))?;
        check_features(conn, &values, Some(&before))?;
        let mut changes = audit::diff(&ProfileValues::of(&before), &values);
        diesel::update(profiles::table.find(id))
            .set((&values, profiles::updated_at.eq(now_ms())))
            .execute(conn)
            .map_err(|e| duplicate_or(e, &values.mdn))?;
        if let Some(hash) = pin_hash {
            diesel::update(profiles::table.find(id))
                .set(profiles::pin_hash.eq(hash))
                .execute(conn)?;
            if let serde_json::Value::Object(map) = &mut changes {
                map.insert("pin".into(), serde_json::json!({"to": "(changed)"}));
            }
        }
        if changes.as_object().is_some_and(|m| !m.is_empty()) {
            audit::record(conn, actor, EntityKind::Profile, id, "updated", &changes)?;
        }
        get(conn, id)
    })
}

pub fn set_state(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    state: ActivationState,
) -> Result<Profile, RegistryError> {
    crate::db::write(conn, |conn| {
        let before = get(conn, id)?;
        if before.state() == state {
            return Ok(before);
        }
        let now = now_ms();
        let target = profiles::table.find(id);
        diesel::update(target)
            .set((
                profiles::activation_state.eq(state.as_str()),
                profiles::state_changed_at.eq(now),
                profiles::updated_at.eq(now),
            ))
            .execute(conn)?;
        // The subscriber's handsets follow, those de-activated with the line
        // included, except one an ESN change retired and one still waiting
        // for the activation an ESN change asked for.
        use crate::db::schema::devices;
        let awaiting = super::esn_change::awaiting(conn, id)?;
        let followers: Vec<i64> = devices::table
            .filter(devices::profile_id.eq(id))
            .filter(devices::retired_at.is_null())
            .filter(devices::id.ne_all(&awaiting))
            .select(devices::id)
            .load(conn)?;
        for device_id in followers {
            super::device::set_activation(conn, device_id, state.as_str())?;
        }
        audit::record(
            conn,
            actor,
            EntityKind::Profile,
            id,
            "activation state changed",
            &serde_json::json!({"activation_state": {"from": before.activation_state, "to": state.as_str()}}),
        )?;
        get(conn, id)
    })
}

pub fn delete(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<(), RegistryError> {
    crate::db::write(conn, |conn| {
        let before = get(conn, id)?;
        // Devices outlive their subscriber: they are unlinked, not deleted.
        diesel::update(crate::db::schema::devices::table)
            .filter(crate::db::schema::devices::profile_id.eq(id))
            .set(crate::db::schema::devices::profile_id.eq(None::<i64>))
            .execute(conn)?;
        diesel::delete(profiles::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Profile,
            id,
            "deleted",
            &audit::snapshot(&ProfileValues::of(&before)),
        )?;
        Ok(())
    })
}

/// Sets a self-service PIN (already validated and hashed by the caller).
pub fn set_pin_hash(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    hash: &str,
) -> Result<(), RegistryError> {
    crate::db::write(conn, |conn| {
        get(conn, id)?;
        diesel::update(profiles::table.find(id))
            .set((
                profiles::pin_hash.eq(hash),
                profiles::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Profile,
            id,
            "PIN changed",
            &serde_json::Value::Null,
        )?;
        Ok(())
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProfileQuery {
    pub mdn: Option<String>,
    pub min: Option<String>,
    pub imsi: Option<String>,
    pub account_id: Option<String>,
    pub name: Option<String>,
    pub state: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// Finds profiles by exact identifiers or a name prefix, in id order with
/// keyset paging so that a page costs the same at any depth.
pub fn search(conn: &mut DbConnection, q: &ProfileQuery) -> Result<Vec<Profile>, RegistryError> {
    let mut query = matching(q)?.select(Profile::as_select());
    if let Some(after) = q.after {
        query = query.filter(profiles::id.gt(after));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    Ok(query.order(profiles::id.asc()).limit(limit).load(conn)?)
}

/// How many profiles a search matches (paging ignored), reading at most
/// `cap + 1` ids so that a name prefix matching a million lines costs no
/// more than ten thousand: returns the ids read.
pub fn count_matching(
    conn: &mut DbConnection,
    q: &ProfileQuery,
    cap: i64,
) -> Result<i64, RegistryError> {
    let ids: Vec<i64> = matching(q)?
        .select(profiles::id)
        .limit(cap + 1)
        .load(conn)?;
    Ok(ids.len() as i64)
}

type Backend = <DbConnection as diesel::Connection>::Backend;

/// The profiles a search's filters select, checked: one place for
/// [`search`] and [`count_matching`] to agree on.
fn matching(q: &ProfileQuery) -> Result<profiles::BoxedQuery<'static, Backend>, RegistryError> {
    let mut query = profiles::table.into_boxed();
    let mut c = Checker::new();
    if let Some(mdn) = c.opt_ident::<Mdn>("mdn", &q.mdn) {
        query = query.filter(profiles::mdn.eq(mdn.to_string()));
    }
    if let Some(min) = c.opt_ident::<Min>("min", &q.min) {
        query = query.filter(profiles::min.eq(min.to_string()));
    }
    if let Some(imsi) = c.opt_ident::<Imsi>("imsi", &q.imsi) {
        query = query.filter(profiles::imsi.eq(imsi.to_string()));
    }
    if let Some(acct) = c.opt_text("account_id", &q.account_id, 64) {
        query = query.filter(profiles::account_id.eq(acct));
    }
    if let Some(name) = c.opt_text("name", &q.name, 128) {
        query = query.filter(
            profiles::subscriber_name
                .like(format!("{}%", escape_like(&name)))
                .escape('\\'),
        );
    }
    if let Some(state) = q.state.as_deref().filter(|s| !s.is_empty()) {
        match ActivationState::parse(state) {
            Some(s) => query = query.filter(profiles::activation_state.eq(s.as_str())),
            None => c.fail("state", "must be pending, activated or deactivated"),
        }
    }
    c.finish()?;
    Ok(query)
}

pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The MDNs of the profiles `ids`, for lists that name lines by their
/// number rather than their row id.
pub fn mdns_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(profiles::table
        .filter(profiles::id.eq_any(ids))
        .select((profiles::id, profiles::mdn))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}
