//! WSP connectionless Push PDU and the WSP basic encodings it needs.
//!
//! References:
//! * WAP-230-WSP-20010705-a section 8.2.4.1 (Push PDU), 8.1.2 (uintvar),
//!   8.4.2.1 (basic rules: Short-integer, Long-integer, Text-string,
//!   Value-length), 8.4.2.24 (Content-type), table 34 (PDU types),
//!   table 38 (well-known parameters, SEC = 0x11 and MAC = 0x12 from encoding
//!   version 1.4), table 39 (header field names).
//! * OMNA "WSP Content Type Numbers" and "PUSH Application ID" registries
//!   (formerly WINA). Codes were cross-checked against the tables in
//!   Wireshark's `packet-wsp.c` and Android's `WspTypeDecoder`.

use super::cp_security::SecMethod;
use super::{CodecError, Reader};

/// PDU type of an unconfirmed Push (WAP-230 table 34).
pub const PDU_TYPE_PUSH: u8 = 0x06;

/// Well-known content type numbers (OMNA WSP content type registry).
/// They are carried as Integer-value, so the wire form of the values below
/// 0x80 is the number with the top bit set (0x44 travels as 0xC4).
pub mod media {
    /// `application/vnd.wap.sic` (Service Indication, WBXML).
    pub const SIC: u32 = 0x2E;
    /// `application/vnd.wap.slc` (Service Loading, WBXML).
    pub const SLC: u32 = 0x30;
    /// `text/vnd.wap.connectivity-xml`.
    pub const CONNECTIVITY_XML: u32 = 0x35;
    /// `application/vnd.wap.connectivity-wbxml` (OMA Client Provisioning).
    pub const CONNECTIVITY_WBXML: u32 = 0x36;
    /// `application/vnd.syncml.dm+wbxml`.
    pub const SYNCML_DM_WBXML: u32 = 0x42;
    /// `application/vnd.syncml.dm+xml`.
    pub const SYNCML_DM_XML: u32 = 0x43;
    /// `application/vnd.syncml.notification` (OMA DM package #0).
    pub const SYNCML_NOTIFICATION: u32 = 0x44;
}

/// Well-known push application ids (OMNA/WINA "PUSH Application ID" registry).
pub mod app_id {
    /// `x-wap-application:*`.
    pub const ANY: u32 = 0x00;
    /// `x-wap-application:push.sia`.
    pub const PUSH_SIA: u32 = 0x01;
    /// `x-wap-application:wml.ua` (browser: SI and SL).
    pub const WML_UA: u32 = 0x02;
    /// `x-wap-application:wta.ua`.
    pub const WTA_UA: u32 = 0x03;
    /// `x-wap-application:mms.ua`.
    pub const MMS_UA: u32 = 0x04;
    /// `x-wap-application:push.syncml` (SyncML DS server alerted sync).
    pub const PUSH_SYNCML: u32 = 0x05;
    /// `x-wap-application:loc.ua`.
    pub const LOC_UA: u32 = 0x06;
    /// `x-wap-application:syncml.dm` (OMA DM client; required for package #0).
    pub const SYNCML_DM: u32 = 0x07;
    /// `x-wap-application:drm.ua`.
    pub const DRM_UA: u32 = 0x08;
    /// `x-wap-application:emn.ua`.
    pub const EMN_UA: u32 = 0x09;
    /// `x-wap-application:wv.ua`.
    pub const WV_UA: u32 = 0x0A;
}

// Header field names (WAP-230 table 39); each travels as a Short-integer.
const FIELD_CONTENT_LENGTH: u8 = 0x0D;
const FIELD_X_WAP_APPLICATION_ID: u8 = 0x2F;
const FIELD_X_WAP_INITIATOR_URI: u8 = 0x31;
const FIELD_PUSH_FLAG: u8 = 0x34;

// Well-known parameter tokens (WAP-230 table 38, encoding version 1.4).
const PARAM_SEC: u8 = 0x11;
const PARAM_MAC: u8 = 0x12;

/// Octet that announces a Value-length carried as uintvar (WAP-230 8.4.2.2).
const LENGTH_QUOTE: u8 = 0x1F;
/// Octet that protects a Text-string whose first character is >= 0x80.
const TEXT_QUOTE: u8 = 0x7F;
/// Largest length that fits the one-octet Short-length form.
const MAX_SHORT_LENGTH: usize = 30;

/// Appends `value` as a WSP uintvar (WAP-230 section 8.1.2): big-endian
/// groups of 7 bits, the continue bit set on every octet but the last.
pub fn encode_uintvar(value: u32, out: &mut Vec<u8>) {
    // 32 bits need at most five 7-bit groups; leading zero groups are
    // dropped because the shortest form is the canonical one.
    let mut started = false;
    for shift in [28u32, 21, 14, 7] {
        let group = ((value >> shift) & 0x7F) as u8;
        if started || group != 0 {
            out.push(group | 0x80);
            started = true;
        }
    }
    out.push((value & 0x7F) as u8);
}

/// Reads a WSP uintvar (WAP-230 section 8.1.2) from the start of `input`,
/// returning the value and the number of octets consumed.
///
/// Rejects encodings longer than five octets or above 32 bits, which the
/// specification caps.
pub fn decode_uintvar(input: &[u8]) -> Result<(u32, usize), CodecError> {
    let mut r = Reader::new(input);
    let v = read_uintvar(&mut r)?;
    Ok((v, input.len() - r.remaining()))
}

fn read_uintvar(r: &mut Reader<'_>) -> Result<u32, CodecError> {
    let mut value: u64 = 0;
    for _ in 0..5 {
        let b = r.u8("uintvar")?;
        value = (value << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            return u32::try_from(value).map_err(|_| CodecError::OutOfRange {
                field: "uintvar",
                value,
                max: u64::from(u32::MAX),
            });
        }
    }
    Err(CodecError::Invalid {
        field: "uintvar",
        reason: "longer than 5 octets",
    })
}

/// Appends a Short-integer (WAP-230 8.4.2.1): a value 0..=127 with the top
/// bit set.
pub fn encode_short_integer(value: u8, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if value > 0x7F {
        return Err(CodecError::OutOfRange {
            field: "short-integer",
            value: u64::from(value),
            max: 0x7F,
        });
    }
    out.push(value | 0x80);
    Ok(())
}

/// Appends a Long-integer (WAP-230 8.4.2.1): Short-length followed by the
/// value in the fewest big-endian octets (at least one).
pub fn encode_long_integer(value: u64, out: &mut Vec<u8>) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let significant = bytes.get(skip..).unwrap_or(&bytes);
    // At most 8 octets, always below the 30-octet Short-length ceiling.
    out.push(significant.len() as u8);
    out.extend_from_slice(significant);
}

/// Appends an Integer-value (WAP-230 8.4.2.3): Short-integer when it fits,
/// Long-integer otherwise.
pub fn encode_integer_value(value: u64, out: &mut Vec<u8>) {
    if value <= 0x7F {
        out.push(value as u8 | 0x80);
    } else {
        encode_long_integer(value, out);
    }
}

/// Appends a Text-string (WAP-230 8.4.2.1): the octets, preceded by the
/// 0x7F quote when the first one is >= 0x80, terminated by NUL.
///
/// Fails when the text itself holds a NUL, which would end it early on the
/// handset.
pub fn encode_text_string(text: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let bytes = text.as_bytes();
    if bytes.contains(&0) {
        return Err(CodecError::Invalid {
            field: "text-string",
            reason: "contains NUL",
        });
    }
    if bytes.first().is_some_and(|b| *b >= 0x80) {
        out.push(TEXT_QUOTE);
    }
    out.extend_from_slice(bytes);
    out.push(0x00);
    Ok(())
}

/// Appends a Value-length (WAP-230 8.4.2.2): one octet up to 30, otherwise
/// Length-quote (0x1F) followed by a uintvar.
pub fn encode_value_length(len: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if len <= MAX_SHORT_LENGTH {
        out.push(len as u8);
        return Ok(());
    }
    let len32 = u32::try_from(len).map_err(|_| CodecError::OutOfRange {
        field: "value-length",
        value: len as u64,
        max: u64::from(u32::MAX),
    })?;
    out.push(LENGTH_QUOTE);
    encode_uintvar(len32, out);
    Ok(())
}

/// The media part of a Content-Type value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaType {
    /// Assigned number from the OMNA registry, see [`media`].
    WellKnown(u32),
    /// Textual media type, e.g. `application/vnd.example+wbxml`.
    Text(String),
}

/// Typed Content-Type parameters used by push content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parameter {
    /// `SEC`: the provisioning security method (OMA-WAP-TS-ProvBoot 5.3).
    Sec(SecMethod),
    /// `MAC`: 40 hex characters of HMAC-SHA1 (OMA-WAP-TS-ProvBoot 5.3).
    Mac(String),
}

/// A WSP Content-Type value (WAP-230 8.4.2.24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// The media type.
    pub media: MediaType,
    /// Parameters; when present the general (length-prefixed) form is used.
    pub params: Vec<Parameter>,
}

impl ContentType {
    /// A well-known media type without parameters.
    pub fn well_known(code: u32) -> Self {
        Self {
            media: MediaType::WellKnown(code),
            params: Vec::new(),
        }
    }

    /// `application/vnd.wap.connectivity-wbxml; SEC=..; MAC=..` as
    /// OMA-WAP-TS-ProvBoot section 5.3 requires for a protected bootstrap.
    pub fn provisioning(sec: SecMethod, mac: impl Into<String>) -> Self {
        Self {
            media: MediaType::WellKnown(media::CONNECTIVITY_WBXML),
            params: vec![Parameter::Sec(sec), Parameter::Mac(mac.into())],
        }
    }

    /// Appends the encoded Content-type value (WAP-230 8.4.2.24).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match (&self.media, self.params.is_empty()) {
            // Constrained-media only admits a Short-integer or a text, so a
            // well-known number above 127 needs the general form below.
            (MediaType::WellKnown(code), true) if *code <= 0x7F => {
                out.push(*code as u8 | 0x80);
                Ok(())
            }
            (MediaType::Text(text), true) => encode_media_text(text, out),
            _ => {
                let mut body = Vec::new();
                match &self.media {
                    MediaType::WellKnown(code) => encode_integer_value(u64::from(*code), &mut body),
                    MediaType::Text(text) => encode_media_text(text, &mut body)?,
                }
                for p in &self.params {
                    p.encode(&mut body)?;
                }
                encode_value_length(body.len(), out)?;
                out.extend_from_slice(&body);
                Ok(())
            }
        }
    }
}

fn encode_media_text(text: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // A first octet below 0x20 would be read as a Value-length and one at or
    // above 0x80 as a Short-integer, so only printable ASCII may start it.
    match text.as_bytes().first() {
        Some(b) if (0x20..0x7F).contains(b) => encode_text_string(text, out),
        _ => Err(CodecError::Invalid {
            field: "media type",
            reason: "must start with a printable ASCII character",
        }),
    }
}

impl Parameter {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Parameter::Sec(sec) => {
                out.push(PARAM_SEC | 0x80);
                encode_short_integer(sec.code(), out)
            }
            Parameter::Mac(mac) => {
                out.push(PARAM_MAC | 0x80);
                encode_text_string(mac, out)
            }
        }
    }
}

/// Value of the X-Wap-Application-Id header (WAP-230 8.4.2.54).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppId {
    /// App-assigned-code from the OMNA registry, see [`app_id`].
    Code(u32),
    /// Absolute URI such as `x-wap-application:syncml.dm`.
    Uri(String),
}

/// The push headers this codec can write and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// X-Wap-Application-Id (field 0x2F): routes the push to a user agent.
    ApplicationId(AppId),
    /// Content-Length (field 0x0D).
    ContentLength(u32),
    /// X-Wap-Initiator-URI (field 0x31).
    InitiatorUri(String),
    /// Push-Flag (field 0x34): Short-integer bit mask.
    PushFlag(u8),
}

impl Header {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Header::ApplicationId(id) => {
                out.push(FIELD_X_WAP_APPLICATION_ID | 0x80);
                match id {
                    AppId::Code(code) => {
                        encode_integer_value(u64::from(*code), out);
                        Ok(())
                    }
                    AppId::Uri(uri) => encode_media_text(uri, out),
                }
            }
            Header::ContentLength(len) => {
                out.push(FIELD_CONTENT_LENGTH | 0x80);
                encode_integer_value(u64::from(*len), out);
                Ok(())
            }
            Header::InitiatorUri(uri) => {
                out.push(FIELD_X_WAP_INITIATOR_URI | 0x80);
                encode_text_string(uri, out)
            }
            Header::PushFlag(flags) => {
                out.push(FIELD_PUSH_FLAG | 0x80);
                encode_short_integer(*flags, out)
            }
        }
    }
}

/// A connectionless WSP Push PDU (WAP-230 section 8.2.4.1):
/// `TID | PDU type 0x06 | HeadersLen (uintvar) | Content-Type | Headers | Data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPdu {
    /// Transaction id; for connectionless push it only lets the handset
    /// drop duplicates, so the outbox may use any value.
    pub tid: u8,
    /// Content type of `body`.
    pub content_type: ContentType,
    /// Further headers in wire order.
    pub headers: Vec<Header>,
    /// The pushed content (WBXML document, package #0, ...).
    pub body: Vec<u8>,
}

impl PushPdu {
    /// Push carrying an OMA DM package #0 as OMA-TS-DM_Notification-V1_2
    /// section 7.1 requires: Content-Type code 0x44 and application id 0x07,
    /// both in binary form.
    pub fn dm_notification(tid: u8, package0: Vec<u8>) -> Self {
        Self {
            tid,
            content_type: ContentType::well_known(media::SYNCML_NOTIFICATION),
            headers: vec![Header::ApplicationId(AppId::Code(app_id::SYNCML_DM))],
            body: package0,
        }
    }

    /// Push carrying a Client Provisioning document protected as
    /// OMA-WAP-TS-ProvBoot section 5.3 describes (`mac` from
    /// [`super::cp_security::mac_hex`]).
    pub fn provisioning(tid: u8, sec: SecMethod, mac: impl Into<String>, wbxml: Vec<u8>) -> Self {
        Self {
            tid,
            content_type: ContentType::provisioning(sec, mac),
            headers: Vec::new(),
            body: wbxml,
        }
    }

    /// Encodes the PDU (WAP-230 section 8.2.4.1).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut headers = Vec::new();
        self.content_type.encode(&mut headers)?;
        for h in &self.headers {
            h.encode(&mut headers)?;
        }
        let headers_len = u32::try_from(headers.len()).map_err(|_| CodecError::OutOfRange {
            field: "headers length",
            value: headers.len() as u64,
            max: u64::from(u32::MAX),
        })?;
        let mut out = Vec::with_capacity(3 + headers.len() + self.body.len());
        out.push(self.tid);
        out.push(PDU_TYPE_PUSH);
        encode_uintvar(headers_len, &mut out);
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// Decodes a Push PDU limited to the constructs [`PushPdu::encode`]
    /// writes; anything else is reported as [`CodecError::Unsupported`].
    pub fn decode(pdu: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(pdu);
        let tid = r.u8("push PDU")?;
        let pdu_type = r.u8("push PDU")?;
        if pdu_type != PDU_TYPE_PUSH {
            return Err(CodecError::Invalid {
                field: "PDU type",
                reason: "not a Push PDU (0x06)",
            });
        }
        let headers_len = read_uintvar(&mut r)? as usize;
        let mut h = Reader::new(r.take(headers_len, "push headers")?);
        let content_type = read_content_type(&mut h)?;
        let mut headers = Vec::new();
        while !h.is_empty() {
            headers.push(read_header(&mut h)?);
        }
        Ok(Self {
            tid,
            content_type,
            headers,
            body: r.rest().to_vec(),
        })
    }
}

fn read_text_string(r: &mut Reader<'_>, what: &'static str) -> Result<String, CodecError> {
    if r.peek(what)? == TEXT_QUOTE {
        r.u8(what)?;
    }
    let mut bytes = Vec::new();
    loop {
        let b = r.u8(what)?;
        if b == 0 {
            break;
        }
        bytes.push(b);
    }
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid {
        field: what,
        reason: "not UTF-8",
    })
}

fn read_long_integer(r: &mut Reader<'_>, what: &'static str) -> Result<u64, CodecError> {
    let len = usize::from(r.u8(what)?);
    if len == 0 || len > MAX_SHORT_LENGTH {
        return Err(CodecError::Invalid {
            field: what,
            reason: "bad long-integer length",
        });
    }
    let bytes = r.take(len, what)?;
    if len > 8 {
        return Err(CodecError::Unsupported("long-integer wider than 64 bits"));
    }
    Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn read_integer_value(r: &mut Reader<'_>, what: &'static str) -> Result<u64, CodecError> {
    let first = r.peek(what)?;
    if first & 0x80 != 0 {
        r.u8(what)?;
        Ok(u64::from(first & 0x7F))
    } else {
        read_long_integer(r, what)
    }
}

fn narrow_u32(v: u64, field: &'static str) -> Result<u32, CodecError> {
    u32::try_from(v).map_err(|_| CodecError::OutOfRange {
        field,
        value: v,
        max: u64::from(u32::MAX),
    })
}

fn read_content_type(r: &mut Reader<'_>) -> Result<ContentType, CodecError> {
    let first = r.peek("content-type")?;
    if first & 0x80 != 0 {
        r.u8("content-type")?;
        return Ok(ContentType::well_known(u32::from(first & 0x7F)));
    }
    if first >= 0x20 {
        let text = read_text_string(r, "content-type")?;
        return Ok(ContentType {
            media: MediaType::Text(text),
            params: Vec::new(),
        });
    }
    // General form: Value-length Media-type *Parameter.
    r.u8("content-type")?;
    let len = if first == LENGTH_QUOTE {
        read_uintvar(r)? as usize
    } else {
        usize::from(first)
    };
    let mut c = Reader::new(r.take(len, "content-type")?);
    let m = c.peek("media type")?;
    let media = if m & 0x80 != 0 || m <= MAX_SHORT_LENGTH as u8 {
        MediaType::WellKnown(narrow_u32(
            read_integer_value(&mut c, "media type")?,
            "media type",
        )?)
    } else {
        MediaType::Text(read_text_string(&mut c, "media type")?)
    };
    let mut params = Vec::new();
    while !c.is_empty() {
        let token = c.u8("parameter")?;
        match token {
            t if t == PARAM_SEC | 0x80 => {
                let v = c.u8("SEC value")?;
                if v & 0x80 == 0 {
                    return Err(CodecError::Invalid {
                        field: "SEC value",
                        reason: "not a short-integer",
                    });
                }
                params.push(Parameter::Sec(SecMethod::from_code(v & 0x7F)?));
            }
            t if t == PARAM_MAC | 0x80 => {
                params.push(Parameter::Mac(read_text_string(&mut c, "MAC value")?));
            }
            _ => return Err(CodecError::Unsupported("content-type parameter")),
        }
    }
    Ok(ContentType { media, params })
}

fn read_header(r: &mut Reader<'_>) -> Result<Header, CodecError> {
    let field = r.u8("header field")?;
    if field & 0x80 == 0 {
        return Err(CodecError::Unsupported("textual header field name"));
    }
    match field & 0x7F {
        FIELD_X_WAP_APPLICATION_ID => {
            let first = r.peek("application id")?;
            if first & 0x80 != 0 || first <= MAX_SHORT_LENGTH as u8 {
                let v = read_integer_value(r, "application id")?;
                Ok(Header::ApplicationId(AppId::Code(narrow_u32(
                    v,
                    "application id",
                )?)))
            } else {
                Ok(Header::ApplicationId(AppId::Uri(read_text_string(
                    r,
                    "application id",
                )?)))
            }
        }
        FIELD_CONTENT_LENGTH => {
            let v = read_integer_value(r, "content-length")?;
            Ok(Header::ContentLength(narrow_u32(v, "content-length")?))
        }
        FIELD_X_WAP_INITIATOR_URI => {
            Ok(Header::InitiatorUri(read_text_string(r, "initiator URI")?))
        }
        FIELD_PUSH_FLAG => {
            let v = r.u8("push-flag")?;
            if v & 0x80 == 0 {
                return Err(CodecError::Invalid {
                    field: "push-flag",
                    reason: "not a short-integer",
                });
            }
            Ok(Header::PushFlag(v & 0x7F))
        }
        _ => Err(CodecError::Unsupported("header field")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uintvar(v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        encode_uintvar(v, &mut out);
        out
    }

    #[test]
    fn uintvar_matches_wap230_examples() {
        // WAP-230 8.1.2: 0x87A5 = 1000 0111 1010 0101 splits into 7-bit groups
        // 0000010 0001111 0100101 -> 0x82 0x8F 0x25.
        assert_eq!(uintvar(0x87A5), vec![0x82, 0x8F, 0x25]);
        assert_eq!(uintvar(0), vec![0x00]);
        assert_eq!(uintvar(0x7F), vec![0x7F]);
        assert_eq!(uintvar(0x80), vec![0x81, 0x00]);
        assert_eq!(uintvar(u32::MAX), vec![0x8F, 0xFF, 0xFF, 0xFF, 0x7F]);
    }

    #[test]
    fn uintvar_round_trip_and_bad_input() {
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, 0x0FFF_FFFF, u32::MAX] {
            let enc = uintvar(v);
            assert_eq!(decode_uintvar(&enc), Ok((v, enc.len())));
        }
        // Continue bit on the last available octet: truncated.
        assert!(matches!(
            decode_uintvar(&[0x81]),
            Err(CodecError::Truncated { .. })
        ));
        // Six octets: longer than the 32-bit cap allows.
        assert!(decode_uintvar(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).is_err());
        // Five octets whose value exceeds 32 bits.
        assert!(matches!(
            decode_uintvar(&[0x9F, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err(CodecError::OutOfRange { .. })
        ));
    }

    #[test]
    fn basic_rules() {
        let mut out = Vec::new();
        encode_short_integer(0x44, &mut out).unwrap();
        assert_eq!(out, [0xC4]);
        assert!(encode_short_integer(0x80, &mut out).is_err());

        let mut out = Vec::new();
        encode_integer_value(0x8000, &mut out);
        // Long-integer: Short-length 2, then 0x80 0x00.
        assert_eq!(out, [0x02, 0x80, 0x00]);

        let mut out = Vec::new();
        encode_text_string("ab", &mut out).unwrap();
        assert_eq!(out, b"ab\0");
        let mut out = Vec::new();
        encode_text_string("\u{e9}", &mut out).unwrap();
        // First octet 0xC3 >= 0x80 so the 0x7F quote precedes it.
        assert_eq!(out, [0x7F, 0xC3, 0xA9, 0x00]);
        assert!(encode_text_string("a\0b", &mut Vec::new()).is_err());

        let mut out = Vec::new();
        encode_value_length(30, &mut out).unwrap();
        encode_value_length(31, &mut out).unwrap();
        encode_value_length(200, &mut out).unwrap();
        // 30 -> short; 31 -> 0x1F 0x1F; 200 = 1 1001000 -> 0x1F 0x81 0x48.
        assert_eq!(out, [0x1E, 0x1F, 0x1F, 0x1F, 0x81, 0x48]);
    }

    #[test]
    fn dm_notification_push_matches_dm_notification_7_1() {
        // OMA-TS-DM_Notification-V1_2 7.1 and its appendix C example:
        // TID 01, PDU type 06 (Push), HeadersLen 03,
        // C4 = content type 0x44 | 0x80 (application/vnd.syncml.notification),
        // AF = field 0x2F | 0x80 (X-Wap-Application-Id),
        // 87 = app id 0x07 | 0x80 (x-wap-application:syncml.dm).
        let pdu = PushPdu::dm_notification(0x01, vec![0xAA, 0xBB]);
        let bytes = pdu.encode().unwrap();
        assert_eq!(bytes, [0x01, 0x06, 0x03, 0xC4, 0xAF, 0x87, 0xAA, 0xBB]);
        assert_eq!(PushPdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn service_indication_push() {
        // SI push as commonly sent to the browser: 0xAE = 0x2E | 0x80
        // (application/vnd.wap.sic), AF 82 = X-Wap-Application-Id wml.ua,
        // B4 84 = Push-Flag 4.
        let pdu = PushPdu {
            tid: 0x25,
            content_type: ContentType::well_known(media::SIC),
            headers: vec![
                Header::ApplicationId(AppId::Code(app_id::WML_UA)),
                Header::PushFlag(4),
            ],
            body: vec![0x02, 0x05, 0x6A, 0x00],
        };
        let bytes = pdu.encode().unwrap();
        assert_eq!(
            bytes,
            [0x25, 0x06, 0x05, 0xAE, 0xAF, 0x82, 0xB4, 0x84, 0x02, 0x05, 0x6A, 0x00]
        );
        assert_eq!(PushPdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn provisioning_content_type_matches_provboot() {
        // OMA-WAP-TS-ProvBoot 5.3 with WAP-230 8.4.2.24:
        // general form = Value-length, B6 (0x36 | 0x80, connectivity-wbxml),
        // 91 80 (SEC = 0x11 | 0x80, NETWPIN = short-integer 0),
        // 92 <40 hex> 00 (MAC = 0x12 | 0x80, Text-string).
        // Body length 1 + 2 + 1 + 41 = 45 > 30, so Value-length is 1F 2D and
        // HeadersLen is 2 + 45 = 47 = 0x2F.
        let mac = "0123456789ABCDEF0123456789ABCDEF01234567";
        let pdu = PushPdu::provisioning(0x01, SecMethod::NetwPin, mac, vec![0x03, 0x0B]);
        let bytes = pdu.encode().unwrap();
        let mut expected = vec![0x01, 0x06, 0x2F, 0x1F, 0x2D, 0xB6, 0x91, 0x80, 0x92];
        expected.extend_from_slice(mac.as_bytes());
        expected.extend_from_slice(&[0x00, 0x03, 0x0B]);
        assert_eq!(bytes, expected);
        assert_eq!(PushPdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn long_forms_round_trip() {
        let pdu = PushPdu {
            tid: 0,
            content_type: ContentType {
                media: MediaType::Text("application/x-example".into()),
                params: vec![Parameter::Sec(SecMethod::UserPin)],
            },
            headers: vec![
                Header::ApplicationId(AppId::Code(0x9001)),
                Header::ApplicationId(AppId::Uri("x-wap-application:syncml.dm".into())),
                Header::ContentLength(70_000),
                Header::InitiatorUri("http://dm.example.net/".into()),
            ],
            body: vec![1, 2, 3],
        };
        let bytes = pdu.encode().unwrap();
        assert_eq!(PushPdu::decode(&bytes).unwrap(), pdu);

        // A well-known number above 127 without parameters needs the general form.
        let ct = ContentType::well_known(0x0201);
        let mut out = Vec::new();
        ct.encode(&mut out).unwrap();
        assert_eq!(out, [0x03, 0x02, 0x02, 0x01]);
    }

    #[test]
    fn decode_rejects_bad_input_without_panicking() {
        assert!(PushPdu::decode(&[]).is_err());
        assert!(PushPdu::decode(&[0x01]).is_err());
        // Not a push PDU type.
        assert!(PushPdu::decode(&[0x01, 0x04, 0x01, 0xC4]).is_err());
        // HeadersLen larger than what follows.
        assert!(matches!(
            PushPdu::decode(&[0x01, 0x06, 0x05, 0xC4]),
            Err(CodecError::Truncated { .. })
        ));
        // Value-length runs past the headers.
        assert!(PushPdu::decode(&[0x01, 0x06, 0x02, 0x05, 0xB6]).is_err());
        // Unterminated text.
        assert!(PushPdu::decode(&[0x01, 0x06, 0x03, 0x61, 0x62, 0x63]).is_err());
        // Exhaustive short inputs must never panic.
        for a in 0..=255u8 {
            for b in [0x00, 0x01, 0x1F, 0x80, 0xAF, 0xFF] {
                let _ = PushPdu::decode(&[0x01, 0x06, 0x03, a, b, 0x87]);
                let _ = PushPdu::decode(&[0x01, 0x06, 0x02, 0x1F, a, b]);
            }
        }
    }
}
