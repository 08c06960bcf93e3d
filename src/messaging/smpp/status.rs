//! SMPP v3.4 `command_status` codes: names for logs and error messages, and
//! the retry policy the outbox applies to a rejected submit.

pub const ESME_ROK: u32 = 0x0000_0000;
pub const ESME_RINVMSGLEN: u32 = 0x0000_0001;
pub const ESME_RINVCMDLEN: u32 = 0x0000_0002;
pub const ESME_RINVCMDID: u32 = 0x0000_0003;
pub const ESME_RINVBNDSTS: u32 = 0x0000_0004;
pub const ESME_RALYBND: u32 = 0x0000_0005;
pub const ESME_RSYSERR: u32 = 0x0000_0008;
pub const ESME_RINVDSTADR: u32 = 0x0000_000B;
pub const ESME_RBINDFAIL: u32 = 0x0000_000D;
pub const ESME_RINVPASWD: u32 = 0x0000_000E;
pub const ESME_RINVSYSID: u32 = 0x0000_000F;
pub const ESME_RMSGQFUL: u32 = 0x0000_0014;
pub const ESME_RTHROTTLED: u32 = 0x0000_0058;
pub const ESME_RX_T_APPN: u32 = 0x0000_0064;

const NAMES: &[(u32, &str)] = &[
    (0x00, "ESME_ROK"),
    (0x01, "ESME_RINVMSGLEN"),
    (0x02, "ESME_RINVCMDLEN"),
    (0x03, "ESME_RINVCMDID"),
    (0x04, "ESME_RINVBNDSTS"),
    (0x05, "ESME_RALYBND"),
    (0x06, "ESME_RINVPRTFLG"),
    (0x07, "ESME_RINVREGDLVFLG"),
    (0x08, "ESME_RSYSERR"),
    (0x0A, "ESME_RINVSRCADR"),
    (0x0B, "ESME_RINVDSTADR"),
    (0x0C, "ESME_RINVMSGID"),
    (0x0D, "ESME_RBINDFAIL"),
    (0x0E, "ESME_RINVPASWD"),
    (0x0F, "ESME_RINVSYSID"),
    (0x11, "ESME_RCANCELFAIL"),
    (0x13, "ESME_RREPLACEFAIL"),
    (0x14, "ESME_RMSGQFUL"),
    (0x15, "ESME_RINVSERTYP"),
    (0x33, "ESME_RINVNUMDESTS"),
    (0x34, "ESME_RINVDLNAME"),
    (0x40, "ESME_RINVDESTFLAG"),
    (0x42, "ESME_RINVSUBREP"),
    (0x43, "ESME_RINVESMCLASS"),
    (0x44, "ESME_RCNTSUBDL"),
    (0x45, "ESME_RSUBMITFAIL"),
    (0x48, "ESME_RINVSRCTON"),
    (0x49, "ESME_RINVSRCNPI"),
    (0x50, "ESME_RINVDSTTON"),
    (0x51, "ESME_RINVDSTNPI"),
    (0x53, "ESME_RINVSYSTYP"),
    (0x54, "ESME_RINVREPFLAG"),
    (0x55, "ESME_RINVNUMMSGS"),
    (0x58, "ESME_RTHROTTLED"),
    (0x61, "ESME_RINVSCHED"),
    (0x62, "ESME_RINVEXPIRY"),
    (0x63, "ESME_RINVDFTMSGID"),
    (0x64, "ESME_RX_T_APPN"),
    (0x65, "ESME_RX_P_APPN"),
    (0x66, "ESME_RX_R_APPN"),
    (0x67, "ESME_RQUERYFAIL"),
    (0xC0, "ESME_RINVOPTPARSTREAM"),
    (0xC1, "ESME_ROPTPARNOTALLWD"),
    (0xC2, "ESME_RINVPARLEN"),
    (0xC3, "ESME_RMISSINGOPTPARAM"),
    (0xC4, "ESME_RINVOPTPARAMVAL"),
    (0xFE, "ESME_RDELIVERYFAILURE"),
    (0xFF, "ESME_RUNKNOWNERR"),
];

/// The SMPP v3.4 name of a status code, or `None` for reserved and
/// vendor-specific (0x400..=0x4FF) codes.
pub fn status_name(code: u32) -> Option<&'static str> {
    NAMES
        .binary_search_by_key(&code, |&(c, _)| c)
        .ok()
        .map(|i| NAMES[i].1)
}

/// Human-readable form used in logs and `LinkStatus::Down` reasons,
/// e.g. `ESME_RINVPASWD (0x0000000E)`.
pub fn describe_status(code: u32) -> String {
    match status_name(code) {
        Some(name) => format!("{name} (0x{code:08X})"),
        None if (0x400..=0x4FF).contains(&code) => format!("vendor-specific (0x{code:08X})"),
        None => format!("unknown status (0x{code:08X})"),
    }
}

/// Whether a rejected submit should be retried later rather than failed.
///
/// Only codes that describe the SMSC's momentary condition are transient;
/// anything about the message or the account would fail again unchanged.
pub fn is_transient(code: u32) -> bool {
    matches!(
        code,
        ESME_RTHROTTLED | ESME_RMSGQFUL | ESME_RSYSERR | ESME_RX_T_APPN
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn names_and_descriptions() {
        assert_eq!(status_name(ESME_RTHROTTLED), Some("ESME_RTHROTTLED"));
        assert_eq!(status_name(ESME_RINVDSTADR), Some("ESME_RINVDSTADR"));
        assert_eq!(status_name(0x09), None);
        assert_eq!(
            describe_status(ESME_RINVPASWD),
            "ESME_RINVPASWD (0x0000000E)"
        );
        assert_eq!(describe_status(0x401), "vendor-specific (0x00000401)");
        assert_eq!(describe_status(0x09), "unknown status (0x00000009)");
    }

    #[test]
    fn transient_classification() {
        for code in [ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR] {
            assert!(is_transient(code), "{code:#x}");
        }
        for code in [
            ESME_ROK,
            ESME_RINVDSTADR,
            ESME_RINVMSGLEN,
            ESME_RBINDFAIL,
            0x401,
        ] {
            assert!(!is_transient(code), "{code:#x}");
        }
    }
}
