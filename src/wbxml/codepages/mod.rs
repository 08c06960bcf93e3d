//! Token tables of the supported document types, one file per standard.

pub mod devinf;
pub mod metinf;
pub mod provisioning;
pub mod si;
pub mod sl;
pub mod syncml;

use super::document::PublicId;
use super::vocabulary::{AttrStartToken, AttrValueToken, TagToken, Vocabulary};

/// Every vocabulary this module ships.
pub static ALL: [&Vocabulary; 6] = [
    &syncml::SYNCML_12,
    &metinf::METINF_12,
    &devinf::DEVINF_12,
    &si::SI_10,
    &sl::SL_10,
    &provisioning::PROV_10,
];

/// The shipped vocabulary for a public id, in numeric or formal form.
/// This is the usual `vocab_lookup` argument of [`super::decode`].
pub fn known_vocabulary(id: &PublicId) -> Option<&'static Vocabulary> {
    ALL.iter().copied().find(|v| v.matches(id))
}

/// Shorthand for table rows.
pub(crate) const fn tag(page: u8, token: u8, name: &'static str) -> TagToken {
    TagToken { page, token, name }
}

/// Shorthand for table rows.
pub(crate) const fn attr(
    page: u8,
    token: u8,
    name: &'static str,
    prefix: &'static str,
) -> AttrStartToken {
    AttrStartToken {
        page,
        token,
        name,
        prefix,
    }
}

/// Shorthand for table rows.
pub(crate) const fn value(page: u8, token: u8, value: &'static str) -> AttrValueToken {
    AttrValueToken { page, token, value }
}
