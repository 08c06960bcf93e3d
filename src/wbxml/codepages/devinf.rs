//! SyncML Device Information 1.2 (OMA-TS-DS_DevInf-V1_2), namespace
//! "syncml:devinf". Token 0x1C is "MaxSize" in 1.2 ("Size" in 1.1);
//! 0x2F is unassigned.

use super::super::vocabulary::{PublicIdForm, TagToken, ValueTokenUse, Vocabulary};
use super::tag;

/// Code page 0 tag tokens.
pub static DEVINF_TAGS: [TagToken; 47] = [
    tag(0, 0x05, "CTCap"),
    tag(0, 0x06, "CTType"),
    tag(0, 0x07, "DataStore"),
    tag(0, 0x08, "DataType"),
    tag(0, 0x09, "DevID"),
    tag(0, 0x0A, "DevInf"),
    tag(0, 0x0B, "DevTyp"),
    tag(0, 0x0C, "DisplayName"),
    tag(0, 0x0D, "DSMem"),
    tag(0, 0x0E, "Ext"),
    tag(0, 0x0F, "FwV"),
    tag(0, 0x10, "HwV"),
    tag(0, 0x11, "Man"),
    tag(0, 0x12, "MaxGUIDSize"),
    tag(0, 0x13, "MaxID"),
    tag(0, 0x14, "MaxMem"),
    tag(0, 0x15, "Mod"),
    tag(0, 0x16, "OEM"),
    tag(0, 0x17, "ParamName"),
    tag(0, 0x18, "PropName"),
    tag(0, 0x19, "Rx"),
    tag(0, 0x1A, "Rx-Pref"),
    tag(0, 0x1B, "SharedMem"),
    tag(0, 0x1C, "MaxSize"),
    tag(0, 0x1D, "SourceRef"),
    tag(0, 0x1E, "SwV"),
    tag(0, 0x1F, "SyncCap"),
    tag(0, 0x20, "SyncType"),
    tag(0, 0x21, "Tx"),
    tag(0, 0x22, "Tx-Pref"),
    tag(0, 0x23, "ValEnum"),
    tag(0, 0x24, "VerCT"),
    tag(0, 0x25, "VerDTD"),
    tag(0, 0x26, "XNam"),
    tag(0, 0x27, "XVal"),
    tag(0, 0x28, "UTC"),
    tag(0, 0x29, "SupportNumberOfChanges"),
    tag(0, 0x2A, "SupportLargeObjs"),
    tag(0, 0x2B, "Property"),
    tag(0, 0x2C, "PropParam"),
    tag(0, 0x2D, "MaxOccur"),
    tag(0, 0x2E, "NoTruncate"),
    tag(0, 0x30, "Filter-Rx"),
    tag(0, 0x31, "FilterCap"),
    tag(0, 0x32, "FilterKeyword"),
    tag(0, 0x33, "FieldLevel"),
    tag(0, 0x34, "SupportHierarchicalSync"),
];

/// DevInf 1.2 (public id 0x1203); peers send it with the formal public id
/// in the string table, usually as OPAQUE data inside a SyncML Item.
pub static DEVINF_12: Vocabulary = Vocabulary {
    name: "DevInf 1.2",
    public_id: 0x1203,
    xml_public_id: "-//SYNCML//DTD DevInf 1.2//EN",
    dtd: "http://www.openmobilealliance.org/tech/DTD/OMA-SyncML-Device_Information-DTD-1.2.dtd",
    root: "DevInf",
    public_id_form: PublicIdForm::Literal,
    namespaces: &[(0, "syncml:devinf")],
    tags: &[&DEVINF_TAGS],
    attr_starts: &[],
    attr_values: &[],
    value_tokens: ValueTokenUse::WholeValue,
    datetime_attrs: &[],
};
