//! Turning HTML form posts (every value text, unchecked boxes absent) into
//! the registry's drafts, keeping the raw text for re-display on error.

use std::collections::HashMap;

use crate::registry::capability::CapabilityDraft;
use crate::registry::device::DeviceDraft;
use crate::registry::fields::form_int;
use crate::registry::profile::ProfileDraft;
use crate::registry::FieldErrors;

pub type FormData = HashMap<String, String>;

pub fn text(f: &FormData, k: &str) -> Option<String> {
    f.get(k).map(|v| v.trim().to_string())
}

fn checkbox(f: &FormData, k: &str) -> Option<bool> {
    Some(
        f.get(k)
            .is_some_and(|v| v == "on" || v == "true" || v == "1"),
    )
}

pub fn profile_draft(f: &FormData) -> (ProfileDraft, FieldErrors) {
    let mut errors = FieldErrors::new();
    // The NAM numbers have defaults for the API and the import, which may
    // leave them out; the form always shows them, so a blank one was
    // cleared on purpose and must not quietly become the default.
    for k in ["accolc", "scm", "mob_p_rev", "slot_cycle_index"] {
        if f.get(k).is_none_or(|v| v.trim().is_empty()) {
            errors.insert(k.to_string(), "is required".to_string());
        }
    }
    let mut int = |k: &str| form_int(&mut errors, k, f.get(k).map(String::as_str).unwrap_or(""));
    let draft = ProfileDraft {
        mdn: text(f, "mdn"),
        min: text(f, "min"),
        imsi: text(f, "imsi"),
        account_id: text(f, "account_id"),
        subscriber_name: text(f, "subscriber_name"),
        sid_nid_pairs: text(f, "sid_nid_pairs"),
        accolc: int("accolc"),
        scm: int("scm"),
        mob_p_rev: int("mob_p_rev"),
        slot_cycle_index: int("slot_cycle_index"),
        prl_id: int("prl_id"),
        sspr_table: int("sspr_table"),
        pending_prl_id: int("pending_prl_id"),
        mn_ha_spi: int("mn_ha_spi"),
        mn_aaa_spi: int("mn_aaa_spi"),
        puzl_id: int("puzl_id"),
        local_control: checkbox(f, "local_control"),
        mob_term_home: checkbox(f, "mob_term_home"),
        mob_term_for_sid: checkbox(f, "mob_term_for_sid"),
        mob_term_for_nid: checkbox(f, "mob_term_for_nid"),
        nai: text(f, "nai"),
        home_agent: text(f, "home_agent"),
        brew_url: text(f, "brew_url"),
        features: text(f, "features"),
        new_esn: text(f, "new_esn"),
        activated_esn: text(f, "activated_esn"),
        pin: text(f, "pin"),
    };
    (draft, errors)
}

pub fn device_draft(f: &FormData) -> DeviceDraft {
    DeviceDraft {
        esn: text(f, "esn"),
        meid: text(f, "meid"),
        make: text(f, "make"),
        model: text(f, "model"),
        firmware_version: text(f, "firmware_version"),
        profile_mdn: text(f, "profile_mdn"),
        profile_id: None,
    }
}

pub fn capability_draft(f: &FormData) -> CapabilityDraft {
    CapabilityDraft {
        make: text(f, "make"),
        model: text(f, "model"),
        version_min: text(f, "version_min"),
        version_max: text(f, "version_max"),
        protocol: text(f, "protocol"),
        fota: checkbox(f, "fota"),
        brew: checkbox(f, "brew"),
        features: text(f, "features"),
    }
}

/// Values for re-filling a form: what was typed, by field name.
#[derive(Debug, Clone, Default)]
pub struct Filled {
    pub values: FormData,
    pub errors: FieldErrors,
}

impl Filled {
    pub fn new(values: FormData, errors: FieldErrors) -> Filled {
        Filled { values, errors }
    }

    pub fn v(&self, k: &str) -> &str {
        self.values.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn checked(&self, k: &str) -> bool {
        self.values
            .get(k)
            .is_some_and(|v| v == "on" || v == "true" || v == "1")
    }

    pub fn err(&self, k: &str) -> &str {
        self.errors.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn has_err(&self, k: &str) -> bool {
        self.errors.contains_key(k)
    }
}

/// Flattens a serializable draft into form values (numbers and booleans as text).
pub fn values_of<T: serde::Serialize>(v: &T) -> FormData {
    let mut out = FormData::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(v) {
        for (k, v) in map {
            let s = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::Bool(true) => "on".to_string(),
                serde_json::Value::Bool(false) => continue,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(k, s);
        }
    }
    out
}
