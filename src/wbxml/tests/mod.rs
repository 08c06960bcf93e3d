//! Tests against published examples, libwbxml's wbxml2xml, and hostile input.

mod malformed;
mod prov;
mod push;
mod roundtrip;
mod syncml;
mod wbxml2xml;
