//! Bit-exact codec for 3GPP2 C.S0016 (TIA-683, IS-683-A..D) OTASP/OTAPA
//! data messages, NAM and SSPR parameter blocks and the IS-683-A
//! Preferred Roaming List.
//!
//! Pure functions only: no I/O, no allocation beyond the output.
//!
//! * [`ForwardMessage`] — base station/OTAF to mobile (C.S0016 §4.5.1).
//! * [`ReverseMessage`] — mobile to base station/OTAF (C.S0016 §3.5.1).
//! * [`NamBlock`] / [`NamConfigBlock`] — NAM parameter blocks of the
//!   Download Request (§4.5.2) and Configuration Response (§3.5.2); the
//!   two links differ (the reverse blocks add SCM, MOB_P_REV,
//!   MAX_SID_NID, ...), hence two types.
//! * [`Prl`] — the Preferred Roaming List (§3.5.5) with PR_LIST_CRC, and
//!   [`PrlSegment`] for carrying it in SSPR messages.
//! * [`encode_min`], [`encode_mcc`], [`encode_imsi_11_12`] and their
//!   inverses — the C.S0005 §2.3.1 digit encodings.
//!
//! Message type codes follow C.S0016-C Tables 3.5.1-1 and 4.5.1-1:
//! 0x00 Configuration, 0x01 Download, 0x02 MS Key, 0x03 Key Generation,
//! 0x04 Re-Authenticate, 0x05 Commit, 0x06 Protocol Capability, 0x07 SSPR
//! Configuration, 0x08 SSPR Download, 0x09 Validation, 0x0A OTAPA. The
//! PUZL, 3GPD, Secure Mode, MMD, System Tag and MMS messages (0x0B..0x17)
//! are rejected as [`Is683Error::UnknownMessageType`].
//!
//! # Independent check with Wireshark
//!
//! The tests in `tests.rs` feed every encoded message to Wireshark's
//! `ansi_683` dissector through `tshark` (Debian package `tshark`;
//! the tests fail, rather than skip, when it is missing). The dissector
//! picks the link from `pinfo->match_uint` (0 = forward, 1 = reverse),
//! i.e. from the value under which it was found in the `ansi_map.ota`
//! dissector table, so a plain user DLT cannot select the direction. The
//! tests therefore write a classic little-endian pcap with link type 252
//! (`LINKTYPE_WIRESHARK_UPPER_PDU`, "exported PDU"); each record is a
//! list of big-endian TLV tags (u16 tag, u16 length, value padded to 4
//! octets) followed by the raw IS-683 message:
//!
//! ```text
//! tag 14 (dissector table name)  len 12  "ansi_map.ota"
//! tag 32 (dissector table value) len 4   u32 0 = forward, 1 = reverse
//! tag 0  (end of options)        len 0
//! <OTASP message octets>
//! ```
//!
//! and run `tshark -r FILE -T pdml`. A message passes when the PDML has
//! no `_ws.malformed`, `ansi_683.short_data`, `ansi_683.extraneous_data`
//! or `ansi_683.data_length.invalid` item and the fields checked by the
//! test (message type name, NAM fields, MDN, segment offsets, result
//! codes, ...) show the expected values. Reproduce by hand with e.g.
//! `printf` + `xxd -r` building the same record layout, or use the
//! `write_exported_pdu_pcap` helper in `tests.rs`. Wireshark 4.0 prints
//! SSPR parameter blocks (and so the PRL itself) only as "Block Data",
//! so the PRL contents and CRC are checked by the unit tests alone.

mod bits;
mod error;
mod messages;
mod nam;
mod prl;

#[cfg(test)]
mod tests;

pub use bits::{BitReader, BitWriter};
pub use error::{Is683Error, Link};
pub use messages::{
    forward_type, reverse_type, CapabilityRequest, ForwardMessage, Fresh, ResultCode,
    ReverseMessage, SsprConfigRequest, ValidationBlock,
};
pub use nam::{
    decode_imsi_11_12, decode_mcc, decode_min, encode_imsi_11_12, encode_mcc, encode_min,
    AccessFlags, CdmaAnalogNam, CdmaAnalogNamConfig, CdmaNam, CdmaNamConfig, Imsi, ImsiT, Mdn,
    NamBlock, NamConfigBlock, SidNid, NAM_BLOCK_CDMA, NAM_BLOCK_CDMA_ANALOG, NAM_BLOCK_IMSI_T,
    NAM_BLOCK_MDN,
};
pub use prl::{
    prl_crc, reassemble, segment_bytes, AcqRecord, ExtPrlDimensions, Nid, Preference, Prl,
    PrlDimensions, PrlSegment, SsprBlock, SsprConfigBlock, SysRecord, MAX_SEGMENT_SIZE,
    SSPR_FWD_BLOCK_EXT_PRL, SSPR_FWD_BLOCK_PRL, SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS,
    SSPR_REV_BLOCK_PRL, SSPR_REV_BLOCK_PRL_DIMENSIONS,
};
