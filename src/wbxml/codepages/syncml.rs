//! SyncML 1.2 (OMA-TS-SyncML_RepPro-V1_2, WBXML code page 0 "SYNCML:SYNCML1.2"),
//! with the MetInf page as code page 1, as OMA DM 1.2 uses it.

use super::super::vocabulary::{PublicIdForm, TagToken, ValueTokenUse, Vocabulary};
use super::metinf::METINF_TAGS;
use super::tag;

/// Formal public identifier of the SyncML 1.2 DTD.
pub const XML_PUBLIC_ID: &str = "-//SYNCML//DTD SyncML 1.2//EN";

/// Code page 0 tag tokens. 0x30 is reserved in the standard and left out.
pub static SYNCML_TAGS: [TagToken; 55] = [
    tag(0, 0x05, "Add"),
    tag(0, 0x06, "Alert"),
    tag(0, 0x07, "Archive"),
    tag(0, 0x08, "Atomic"),
    tag(0, 0x09, "Chal"),
    tag(0, 0x0A, "Cmd"),
    tag(0, 0x0B, "CmdID"),
    tag(0, 0x0C, "CmdRef"),
    tag(0, 0x0D, "Copy"),
    tag(0, 0x0E, "Cred"),
    tag(0, 0x0F, "Data"),
    tag(0, 0x10, "Delete"),
    tag(0, 0x11, "Exec"),
    tag(0, 0x12, "Final"),
    tag(0, 0x13, "Get"),
    tag(0, 0x14, "Item"),
    tag(0, 0x15, "Lang"),
    tag(0, 0x16, "LocName"),
    tag(0, 0x17, "LocURI"),
    tag(0, 0x18, "Map"),
    tag(0, 0x19, "MapItem"),
    tag(0, 0x1A, "Meta"),
    tag(0, 0x1B, "MsgID"),
    tag(0, 0x1C, "MsgRef"),
    tag(0, 0x1D, "NoResp"),
    tag(0, 0x1E, "NoResults"),
    tag(0, 0x1F, "Put"),
    tag(0, 0x20, "Replace"),
    tag(0, 0x21, "RespURI"),
    tag(0, 0x22, "Results"),
    tag(0, 0x23, "Search"),
    tag(0, 0x24, "Sequence"),
    tag(0, 0x25, "SessionID"),
    tag(0, 0x26, "SftDel"),
    tag(0, 0x27, "Source"),
    tag(0, 0x28, "SourceRef"),
    tag(0, 0x29, "Status"),
    tag(0, 0x2A, "Sync"),
    tag(0, 0x2B, "SyncBody"),
    tag(0, 0x2C, "SyncHdr"),
    tag(0, 0x2D, "SyncML"),
    tag(0, 0x2E, "Target"),
    tag(0, 0x2F, "TargetRef"),
    tag(0, 0x31, "VerDTD"),
    tag(0, 0x32, "VerProto"),
    tag(0, 0x33, "NumberOfChanges"),
    tag(0, 0x34, "MoreData"),
    tag(0, 0x35, "Field"),
    tag(0, 0x36, "Filter"),
    tag(0, 0x37, "Record"),
    tag(0, 0x38, "FilterType"),
    tag(0, 0x39, "SourceParent"),
    tag(0, 0x3A, "TargetParent"),
    tag(0, 0x3B, "Move"),
    tag(0, 0x3C, "Correlator"),
];

/// SyncML 1.2 (public id 0x1201). Encoded with the formal public id in the
/// string table because that is what OMA DM clients and servers exchange.
pub static SYNCML_12: Vocabulary = Vocabulary {
    name: "SyncML 1.2",
    public_id: 0x1201,
    xml_public_id: XML_PUBLIC_ID,
    dtd: "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd",
    root: "SyncML",
    public_id_form: PublicIdForm::Literal,
    namespaces: &[(0, "SYNCML:SYNCML1.2"), (1, "syncml:metinf")],
    tags: &[&SYNCML_TAGS, &METINF_TAGS],
    attr_starts: &[],
    attr_values: &[],
    value_tokens: ValueTokenUse::WholeValue,
    datetime_attrs: &[],
};
