//! The words the portal shows for the codes it stores: one function per
//! vocabulary, so every screen says the same thing for the same code.

/// A message shown to a person as a sentence starts with a capital letter,
/// whatever lower layer (written for logs) produced it.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An outbox message kind (`dm_notification`) as its filter names it.
pub fn message_kind(code: &str) -> String {
    crate::messaging::outbox::Kind::parse(code)
        .map(|k| k.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A management protocol (`omadm`, `iota`) as the capability registry names it.
pub fn protocol(code: &str) -> String {
    crate::registry::capability::Protocol::parse(code)
        .map(|p| p.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// The states an IOTA session goes through (`iota_sessions.state`), in the
/// order a session meets them, with the words the portal shows for them.
pub const IOTA_STATES: [(&str, &str); 6] = [
    ("awaiting_handset", "Awaiting the handset"),
    ("running", "Running"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("refused", "Refused"),
    ("abandoned", "Abandoned"),
];

/// An IOTA session state (`awaiting_handset`) as the IOTA screens name it.
pub fn iota_state(code: &str) -> String {
    IOTA_STATES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, word)| word.to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A FOTA session's state as the session lists show it. A session closed
/// because its download stopped part-way stays failed (its campaign
/// counted it so), but a handset that resumed and then reported a success
/// runs the new firmware: the list says so, as the session's own page and
/// history do. The late report is kept in the row itself (its result code
/// on a session closed as stalled, see `fota::session::late_report`), so
/// the list needs no query of its own per row.
pub fn fota_state(s: &crate::fota::FotaSession) -> String {
    let word = fota_state_code(&s.state);
    if updated_later(s) {
        format!("{word} — updated later")
    } else {
        word.to_string()
    }
}

/// A stored FOTA session state (`no_update`) in words; an unknown code as
/// it is.
pub fn fota_state_code(code: &str) -> &str {
    match code {
        "pending" => "pending",
        "querying" => "asking the handset's version",
        "no_update" => "no update",
        "offered" => "package offered",
        "downloaded" => "downloaded, installing",
        "succeeded" => "succeeded",
        "failed" => "failed",
        "cancelled" => "cancelled",
        other => other,
    }
}

/// Closed as a stalled download, then reported a successful update.
pub fn updated_later(s: &crate::fota::FotaSession) -> bool {
    use crate::fota::session::{state_for_result, FotaState};
    s.closed_as_stalled()
        && s.result_code
            .and_then(|c| u16::try_from(c).ok())
            .is_some_and(|c| state_for_result(c) == FotaState::Succeeded)
}

/// A staff role (`care`) as the Users page names it.
pub fn role(code: &str) -> String {
    crate::auth::Role::parse(code)
        .map(|r| r.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A size in bytes in the largest binary unit it fills (512 MiB, 2 GiB).
pub fn byte_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["GiB", "MiB", "KiB", "bytes"];
    for (i, unit) in UNITS.iter().enumerate() {
        let size = 1u64 << (10 * (3 - i));
        if bytes >= size && size > 1 {
            let whole = bytes / size;
            let tenths = (bytes % size) * 10 / size;
            return if tenths == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{tenths} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_for_codes() {
        assert_eq!(capitalised("a password needs"), "A password needs");
        assert_eq!(capitalised(""), "");
        assert_eq!(byte_size(536_870_912), "512 MiB");
        assert_eq!(byte_size(3 << 30), "3 GiB");
        assert_eq!(byte_size(1536), "1.5 KiB");
        assert_eq!(byte_size(100), "100 bytes");
        assert_eq!(protocol("omadm"), "OMA-DM");
        assert_eq!(protocol("iota"), "IOTA");
        assert_eq!(role("care"), "Care agent");
        assert_eq!(message_kind("wap_sl"), "WAP Push SL");
        assert_eq!(iota_state("awaiting_handset"), "Awaiting the handset");
        assert_eq!(iota_state("something_new"), "something_new");
    }

    fn session(state: &str, detail: &str, result_code: Option<i32>) -> crate::fota::FotaSession {
        crate::fota::FotaSession {
            id: 1,
            device_id: 1,
            protocol: "omadm".into(),
            state: state.into(),
            from_version: "U960.05".into(),
            to_version: Some("U960.07".into()),
            package_id: Some(1),
            correlator: None,
            result_code,
            detail: detail.into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_stalled_session_that_reported_success_later_says_so() {
        let stalled = crate::fota::session::stall_detail(10, 20, 61);
        let late = format!("{stalled}; late report: FUMO result 200, the device runs U960.07");
        assert_eq!(
            fota_state(&session("failed", &late, Some(200))),
            "failed — updated later"
        );
        // A late failure, no report at all, or a plain failure stay failed.
        assert_eq!(
            fota_state(&session("failed", &stalled, Some(410))),
            "failed"
        );
        assert_eq!(fota_state(&session("failed", &stalled, None)), "failed");
        assert_eq!(
            fota_state(&session("failed", "download failed: 402", Some(200))),
            "failed"
        );
        assert_eq!(
            fota_state(&session("succeeded", "", Some(200))),
            "succeeded"
        );
    }
}
