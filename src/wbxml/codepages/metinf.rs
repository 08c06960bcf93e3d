//! SyncML Meta Information 1.2 (OMA-TS-SyncML_MetaInfo-V1_2), namespace
//! "syncml:metinf". Its tokens live on code page 1 because the page is
//! designed to be mixed into SyncML documents, whose page 0 is taken.

use super::super::vocabulary::{PublicIdForm, TagToken, ValueTokenUse, Vocabulary};
use super::tag;

/// Code page 1 tag tokens.
pub static METINF_TAGS: [TagToken; 18] = [
    tag(1, 0x05, "Anchor"),
    tag(1, 0x06, "EMI"),
    tag(1, 0x07, "Format"),
    tag(1, 0x08, "FreeID"),
    tag(1, 0x09, "FreeMem"),
    tag(1, 0x0A, "Last"),
    tag(1, 0x0B, "Mark"),
    tag(1, 0x0C, "MaxMsgSize"),
    tag(1, 0x0D, "Mem"),
    tag(1, 0x0E, "MetInf"),
    tag(1, 0x0F, "Next"),
    tag(1, 0x10, "NextNonce"),
    tag(1, 0x11, "SharedMem"),
    tag(1, 0x12, "Size"),
    tag(1, 0x13, "Type"),
    tag(1, 0x14, "Version"),
    tag(1, 0x15, "MaxObjSize"),
    tag(1, 0x16, "FieldLevel"),
];

/// Stand-alone MetInf 1.2 documents (public id 0x1202); rare, but the id is registered.
pub static METINF_12: Vocabulary = Vocabulary {
    name: "MetInf 1.2",
    public_id: 0x1202,
    xml_public_id: "-//SYNCML//DTD MetInf 1.2//EN",
    dtd: "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_MetaInfo_DTD-V1_2.dtd",
    root: "MetInf",
    public_id_form: PublicIdForm::Literal,
    namespaces: &[(1, "syncml:metinf")],
    tags: &[&METINF_TAGS],
    attr_starts: &[],
    attr_values: &[],
    value_tokens: ValueTokenUse::WholeValue,
    datetime_attrs: &[],
};
