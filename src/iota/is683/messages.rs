//! OTASP/OTAPA data messages: forward link (C.S0016 §4.5.1) and reverse
//! link (C.S0016 §3.5.1). Each message starts with the 8-bit
//! OTASP_MSG_TYPE (Tables 4.5.1-1 and 3.5.1-1).

use super::bits::{BitReader, BitWriter};
use super::error::{Is683Error, Link};
use super::nam::{NamBlock, NamConfigBlock};
use super::prl::{
    SsprBlock, SsprConfigBlock, SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS, SSPR_REV_BLOCK_PRL,
    SSPR_REV_BLOCK_PRL_DIMENSIONS,
};

/// Forward-link OTASP_MSG_TYPE codes (C.S0016 Table 4.5.1-1).
pub mod forward_type {
    pub const CONFIGURATION_REQUEST: u8 = 0x00;
    pub const DOWNLOAD_REQUEST: u8 = 0x01;
    pub const MS_KEY_REQUEST: u8 = 0x02;
    pub const KEY_GENERATION_REQUEST: u8 = 0x03;
    pub const REAUTHENTICATE_REQUEST: u8 = 0x04;
    pub const COMMIT_REQUEST: u8 = 0x05;
    pub const PROTOCOL_CAPABILITY_REQUEST: u8 = 0x06;
    pub const SSPR_CONFIGURATION_REQUEST: u8 = 0x07;
    pub const SSPR_DOWNLOAD_REQUEST: u8 = 0x08;
    pub const VALIDATION_REQUEST: u8 = 0x09;
    pub const OTAPA_REQUEST: u8 = 0x0A;
}

/// Reverse-link OTASP_MSG_TYPE codes (C.S0016 Table 3.5.1-1).
pub mod reverse_type {
    pub const CONFIGURATION_RESPONSE: u8 = 0x00;
    pub const DOWNLOAD_RESPONSE: u8 = 0x01;
    pub const MS_KEY_RESPONSE: u8 = 0x02;
    pub const KEY_GENERATION_RESPONSE: u8 = 0x03;
    pub const REAUTHENTICATE_RESPONSE: u8 = 0x04;
    pub const COMMIT_RESPONSE: u8 = 0x05;
    pub const PROTOCOL_CAPABILITY_RESPONSE: u8 = 0x06;
    pub const SSPR_CONFIGURATION_RESPONSE: u8 = 0x07;
    pub const SSPR_DOWNLOAD_RESPONSE: u8 = 0x08;
    pub const VALIDATION_RESPONSE: u8 = 0x09;
    pub const OTAPA_RESPONSE: u8 = 0x0A;
}

macro_rules! result_codes {
    ($( $variant:ident = $code:literal, $text:literal; )*) => {
        /// RESULT_CODE values (C.S0016 Table 3.5.1.2-1). Codes 47..=127
        /// are reserved and 128..=254 manufacturer specific; they are
        /// kept in [`ResultCode::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ResultCode {
            $( #[doc = $text] $variant, )*
            /// Any code not listed above.
            Other(u8),
        }

        impl ResultCode {
            pub fn from_u8(code: u8) -> Self {
                match code {
                    $( $code => ResultCode::$variant, )*
                    other => ResultCode::Other(other),
                }
            }

            pub fn to_u8(self) -> u8 {
                match self {
                    $( ResultCode::$variant => $code, )*
                    ResultCode::Other(c) => c,
                }
            }

            /// The wording of Table 3.5.1.2-1.
            pub fn description(self) -> &'static str {
                match self {
                    $( ResultCode::$variant => $text, )*
                    ResultCode::Other(c) if (128..255).contains(&c) => "Manufacturer-specific result code",
                    ResultCode::Other(_) => "Reserved",
                }
            }
        }
    };
}

result_codes! {
    Accepted = 0, "Accepted - Operation successful";
    RejectedUnknown = 1, "Rejected - Unknown reason";
    DataSizeMismatch = 2, "Rejected - Data size mismatch";
    ProtocolVersionMismatch = 3, "Rejected - Protocol version mismatch";
    InvalidParameter = 4, "Rejected - Invalid parameter";
    SidNidLengthMismatch = 5, "Rejected - SID/NID length mismatch";
    MessageNotExpected = 6, "Rejected - Message not expected in this mode";
    BlockIdNotSupported = 7, "Rejected - BLOCK_ID value not supported";
    PrlLengthMismatch = 8, "Rejected - Preferred roaming list length mismatch";
    CrcError = 9, "Rejected - CRC error";
    MobileStationLocked = 10, "Rejected - Mobile station locked";
    InvalidSpc = 11, "Rejected - Invalid SPC";
    SpcChangeDenied = 12, "Rejected - SPC change denied by the user";
    InvalidSpasm = 13, "Rejected - Invalid SPASM";
    BlockIdNotExpected = 14, "Rejected - BLOCK_ID not expected in this mode";
    UserZoneAlreadyInPuzl = 15, "Rejected - User Zone already in PUZL";
    UserZoneNotInPuzl = 16, "Rejected - User Zone not in PUZL";
    NoEntriesInPuzl = 17, "Rejected - No entries in PUZL";
    OperationModeMismatch = 18, "Rejected - Operation Mode mismatch";
    SimpleIpMaxNumNaiMismatch = 19, "Rejected - SimpleIP MAX_NUM_NAI mismatch";
    SimpleIpMaxNaiLengthMismatch = 20, "Rejected - SimpleIP MAX_NAI_LENGTH mismatch";
    MobileIpMaxNumNaiMismatch = 21, "Rejected - MobileIP MAX_NUM_NAI mismatch";
    MobileIpMaxNaiLengthMismatch = 22, "Rejected - MobileIP MAX_NAI_LENGTH mismatch";
    SimpleIpPapMaxSsLengthMismatch = 23, "Rejected - SimpleIP PAP MAX_SS_LENGTH mismatch";
    SimpleIpChapMaxSsLengthMismatch = 24, "Rejected - SimpleIP CHAP MAX_SS_LENGTH mismatch";
    MobileIpMaxMnAaaSsLengthMismatch = 25, "Rejected - MobileIP MAX_MNAAA_SS_LENGTH mismatch";
    MobileIpMaxMnHaSsLengthMismatch = 26, "Rejected - MobileIP MAX_MN-HA_SS_LENGTH mismatch";
    MobileIpMnAaaAuthAlgorithmMismatch = 27, "Rejected - MobileIP MN-AAA_AUTH_ALGORITHM mismatch";
    MobileIpMnHaAuthAlgorithmMismatch = 28, "Rejected - MobileIP MN-HA_AUTH_ALGORITHM mismatch";
    SimpleIpActNaiEntryIndexMismatch = 29, "Rejected - SimpleIP ACT_NAI_ENTRY_INDEX mismatch";
    MobileIpActNaiEntryIndexMismatch = 30, "Rejected - MobileIP ACT_NAI_ENTRY_INDEX mismatch";
    SimpleIpPapNaiEntryIndexMismatch = 31, "Rejected - SimpleIP PAP NAI_ENTRY_INDEX mismatch";
    SimpleIpChapNaiEntryIndexMismatch = 32, "Rejected - SimpleIP CHAP NAI_ENTRY_INDEX mismatch";
    MobileIpNaiEntryIndexMismatch = 33, "Rejected - MobileIP NAI_ENTRY_INDEX mismatch";
    UnexpectedPrlBlockIdChange = 34, "Rejected - Unexpected PRL_BLOCK_ID change";
    PrlFormatMismatch = 35, "Rejected - PRL format mismatch";
    HrpdMaxNaiLengthMismatch = 36, "Rejected - HRPD Access Authentication MAX_NAI_LENGTH mismatch";
    HrpdChapMaxSsLengthMismatch = 37, "Rejected - HRPD Access Authentication CHAP MAX_SS_LENGTH mismatch";
    MmdMaxNumImpuMismatch = 38, "Rejected - MMD MAX_NUM_IMPU mismatch";
    MmdMaxImpuLengthMismatch = 39, "Rejected - MMD MAX_IMPU_LENGTH mismatch";
    MmdMaxNumPcscfMismatch = 40, "Rejected - MMD MAX_NUM_P-CSCF mismatch";
    MmdMaxPcscfLengthMismatch = 41, "Rejected - MMD MAX_P-CSCF_LENGTH mismatch";
    UnexpectedSystemTagBlockIdChange = 42, "Rejected - Unexpected System Tag BLOCK_ID Change";
    SystemTagFormatMismatch = 43, "Rejected - System Tag Format mismatch";
    NumMmsUriMismatch = 44, "Rejected - NUM_MMS_URI mismatch";
    MmsUriLengthMismatch = 45, "Rejected - MMS_URI _LENGTH mismatch";
    InvalidMmsUri = 46, "Rejected - Invalid MMS_URI";
}

/// FRESH_INCL / FRESH, the optional Secure Mode freshness field that
/// C.S0016-C appended to Download, SSPR Download, Configuration and SSPR
/// Configuration messages. Earlier revisions end the message before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fresh {
    /// The octet is not sent at all (IS-683-A/B layout).
    #[default]
    Absent,
    /// FRESH_INCL = 0 followed by 7 RESERVED bits.
    NotIncluded,
    /// FRESH_INCL = 1 followed by the 15-bit FRESH value.
    Included(u16),
}

impl Fresh {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        match self {
            Fresh::Absent => Ok(()),
            Fresh::NotIncluded => w.write(0, 8, "FRESH_INCL"),
            Fresh::Included(v) => {
                w.write_bool(true);
                w.write(u64::from(*v), 15, "FRESH")
            }
        }
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        if r.remaining_bits() == 0 {
            return Ok(Fresh::Absent);
        }
        if r.read_bool("FRESH_INCL")? {
            Ok(Fresh::Included(r.read_u16(15, "FRESH")?))
        } else {
            r.read(7, "RESERVED")?;
            Ok(Fresh::NotIncluded)
        }
    }
}

/// Parameter block of a Validation Request (C.S0016 §4.5.4,
/// Table 4.5.4-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationBlock {
    /// BLOCK_ID 0, Verify SPC (§4.5.4.1): six BCD digits.
    VerifySpc {
        spc: String,
    },
    /// BLOCK_ID 1, Change SPC (§4.5.4.2): six BCD digits.
    ChangeSpc {
        spc: String,
    },
    /// BLOCK_ID 2, Validate SPASM (§4.5.4.3): AUTH_OTAPA_INCL,
    /// AUTH_OTAPA (18 bits, if included) and NAM_LOCK.
    ValidateSpasm {
        auth_otapa: Option<u32>,
        nam_lock: bool,
    },
    Raw {
        block_id: u8,
        data: Vec<u8>,
    },
}

impl ValidationBlock {
    pub fn block_id(&self) -> u8 {
        match self {
            ValidationBlock::VerifySpc { .. } => 0,
            ValidationBlock::ChangeSpc { .. } => 1,
            ValidationBlock::ValidateSpasm { .. } => 2,
            ValidationBlock::Raw { block_id, .. } => *block_id,
        }
    }

    fn encode_data(&self) -> Result<Vec<u8>, Is683Error> {
        match self {
            ValidationBlock::VerifySpc { spc } | ValidationBlock::ChangeSpc { spc } => {
                let digits: Vec<char> = spc.chars().collect();
                if digits.len() != 6 || !digits.iter().all(char::is_ascii_digit) {
                    return Err(Is683Error::InvalidDigits {
                        field: "SPC",
                        reason: format!("{spc:?} is not six decimal digits"),
                    });
                }
                super::nam::encode_body(|w| {
                    for d in digits {
                        w.write(u64::from(d as u8 - b'0'), 4, "SPC digit")?;
                    }
                    Ok(())
                })
            }
            ValidationBlock::ValidateSpasm {
                auth_otapa,
                nam_lock,
            } => super::nam::encode_body(|w| {
                w.write_bool(auth_otapa.is_some());
                if let Some(a) = auth_otapa {
                    w.write(u64::from(*a), 18, "AUTH_OTAPA")?;
                }
                w.write_bool(*nam_lock);
                Ok(())
            }),
            ValidationBlock::Raw { data, .. } => Ok(data.clone()),
        }
    }

    fn decode_data(block_id: u8, data: &[u8]) -> Result<Self, Is683Error> {
        let read_spc = |r: &mut BitReader<'_>| -> Result<String, Is683Error> {
            let mut s = String::with_capacity(6);
            for _ in 0..6 {
                let d = r.read_u8(4, "SPC digit")?;
                if d > 9 {
                    return Err(Is683Error::InvalidValue {
                        field: "SPC",
                        reason: format!("BCD nibble {d:#x} is not a digit"),
                    });
                }
                s.push(char::from(b'0' + d));
            }
            Ok(s)
        };
        Ok(match block_id {
            0 => ValidationBlock::VerifySpc {
                spc: super::nam::decode_exact(block_id, data, read_spc)?,
            },
            1 => ValidationBlock::ChangeSpc {
                spc: super::nam::decode_exact(block_id, data, read_spc)?,
            },
            2 => super::nam::decode_exact(block_id, data, |r| {
                let incl = r.read_bool("AUTH_OTAPA_INCL")?;
                let auth_otapa = if incl {
                    Some(r.read_u32(18, "AUTH_OTAPA")?)
                } else {
                    None
                };
                Ok(ValidationBlock::ValidateSpasm {
                    auth_otapa,
                    nam_lock: r.read_bool("NAM_LOCK")?,
                })
            })?,
            _ => ValidationBlock::Raw {
                block_id,
                data: data.to_vec(),
            },
        })
    }
}

/// What an SSPR Configuration Request asks for (C.S0016 §4.5.1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsprConfigRequest {
    /// BLOCK_ID 0.
    PrlDimensions,
    /// BLOCK_ID 1, with REQUEST_OFFSET (16) and REQUEST_MAX_SIZE (8).
    Prl {
        request_offset: u16,
        request_max_size: u8,
    },
    /// BLOCK_ID 2.
    ExtPrlDimensions,
    /// Any other BLOCK_ID (no further fields).
    Other(u8),
}

/// Optional body of a Protocol Capability Request (C.S0016-C §4.5.1.7);
/// IS-683-A sends the message type alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityRequest {
    pub otasp_p_rev: u8,
    /// CAP_INFO_RECORD_TYPE values (Table 3.5.1.17.1-1).
    pub record_types: Vec<u8>,
}

/// A message from the base station / OTAF to the mobile (C.S0016 §4.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardMessage {
    /// §4.5.1.1: NUM_BLOCKS then one BLOCK_ID per requested NAM block.
    ConfigurationRequest { block_ids: Vec<u8> },
    /// §4.5.1.2.
    DownloadRequest { blocks: Vec<NamBlock>, fresh: Fresh },
    /// §4.5.1.3: PARAM_P / PARAM_G are only sent when A_KEY_P_REV < 3.
    MsKeyRequest {
        a_key_p_rev: u8,
        param_p: Vec<u8>,
        param_g: Vec<u8>,
    },
    /// §4.5.1.4.
    KeyGenerationRequest { bs_result: Vec<u8> },
    /// §4.5.1.5: 32-bit RAND.
    ReauthenticateRequest { rand: u32 },
    /// §4.5.1.6: no fields.
    CommitRequest,
    /// §4.5.1.7.
    ProtocolCapabilityRequest { request: Option<CapabilityRequest> },
    /// §4.5.1.8.
    SsprConfigurationRequest { request: SsprConfigRequest },
    /// §4.5.1.9.
    SsprDownloadRequest { block: SsprBlock, fresh: Fresh },
    /// §4.5.1.10.
    ValidationRequest { blocks: Vec<ValidationBlock> },
    /// §4.5.1.11: START_STOP (1 = start) and 7 RESERVED bits.
    OtapaRequest { start: bool },
}

/// A message from the mobile to the base station / OTAF (C.S0016 §3.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseMessage {
    /// §3.5.1.1: the blocks, then one RESULT_CODE per block (paired here).
    ConfigurationResponse {
        blocks: Vec<(NamConfigBlock, ResultCode)>,
        fresh: Fresh,
    },
    /// §3.5.1.2: (BLOCK_ID, RESULT_CODE) pairs.
    DownloadResponse { results: Vec<(u8, ResultCode)> },
    /// §3.5.1.3.
    MsKeyResponse { result: ResultCode },
    /// §3.5.1.4.
    KeyGenerationResponse {
        result: ResultCode,
        ms_result: Vec<u8>,
    },
    /// §3.5.1.5: AUTHR (18), RANDC (8), COUNT (6), AUTH_DATA (24).
    ReauthenticateResponse {
        authr: u32,
        randc: u8,
        count: u8,
        auth_data: u32,
    },
    /// §3.5.1.6.
    CommitResponse { result: ResultCode },
    /// §3.5.1.7: features are (FEATURE_ID, FEATURE_P_REV); `additional`
    /// is ADD_FIELDS (band/mode capability etc.), ADD_LENGTH octets.
    ProtocolCapabilityResponse {
        mob_firm_rev: u16,
        mob_model: u8,
        features: Vec<(u8, u8)>,
        additional: Vec<u8>,
    },
    /// §3.5.1.8.
    SsprConfigurationResponse {
        block: SsprConfigBlock,
        result: ResultCode,
        fresh: Fresh,
    },
    /// §3.5.1.9.
    SsprDownloadResponse {
        block_id: u8,
        result: ResultCode,
        segment_offset: u16,
        segment_size: u8,
    },
    /// §3.5.1.10: (BLOCK_ID, RESULT_CODE) pairs.
    ValidationResponse { results: Vec<(u8, ResultCode)> },
    /// §3.5.1.11: RAND_OTAPA is present exactly when NAM_LOCK_IND = 1.
    OtapaResponse {
        result: ResultCode,
        rand_otapa: Option<u32>,
    },
}

fn count_u8(len: usize, field: &'static str) -> Result<u64, Is683Error> {
    if len > 255 {
        return Err(Is683Error::FieldOverflow {
            field,
            value: len as u64,
            bits: 8,
        });
    }
    Ok(len as u64)
}

fn write_block(w: &mut BitWriter, block_id: u8, data: &[u8]) -> Result<(), Is683Error> {
    w.write(u64::from(block_id), 8, "BLOCK_ID")?;
    w.write(count_u8(data.len(), "BLOCK_LEN")?, 8, "BLOCK_LEN")?;
    w.write_bytes(data);
    Ok(())
}

fn read_block(r: &mut BitReader<'_>) -> Result<(u8, Vec<u8>), Is683Error> {
    let id = r.read_u8(8, "BLOCK_ID")?;
    let len = r.read_u8(8, "BLOCK_LEN")?;
    let data = r.read_bytes(usize::from(len), "PARAM_DATA")?;
    Ok((id, data))
}

fn write_len_prefixed(
    w: &mut BitWriter,
    data: &[u8],
    field: &'static str,
) -> Result<(), Is683Error> {
    w.write(count_u8(data.len(), field)?, 8, field)?;
    w.write_bytes(data);
    Ok(())
}

fn read_len_prefixed(r: &mut BitReader<'_>, field: &'static str) -> Result<Vec<u8>, Is683Error> {
    let len = r.read_u8(8, field)?;
    r.read_bytes(usize::from(len), field)
}

fn finish(r: &BitReader<'_>) -> Result<(), Is683Error> {
    match r.remaining_bytes() {
        0 => Ok(()),
        count => Err(Is683Error::TrailingData { count }),
    }
}

fn result(r: &mut BitReader<'_>) -> Result<ResultCode, Is683Error> {
    Ok(ResultCode::from_u8(r.read_u8(8, "RESULT_CODE")?))
}

fn write_result(w: &mut BitWriter, code: ResultCode) -> Result<(), Is683Error> {
    w.write(u64::from(code.to_u8()), 8, "RESULT_CODE")
}

fn write_id_results(w: &mut BitWriter, results: &[(u8, ResultCode)]) -> Result<(), Is683Error> {
    w.write(count_u8(results.len(), "NUM_BLOCKS")?, 8, "NUM_BLOCKS")?;
    for (id, code) in results {
        w.write(u64::from(*id), 8, "BLOCK_ID")?;
        write_result(w, *code)?;
    }
    Ok(())
}

fn read_id_results(r: &mut BitReader<'_>) -> Result<Vec<(u8, ResultCode)>, Is683Error> {
    let n = r.read_u8(8, "NUM_BLOCKS")?;
    (0..n)
        .map(|_| Ok((r.read_u8(8, "BLOCK_ID")?, result(r)?)))
        .collect()
}

impl ForwardMessage {
    pub fn msg_type(&self) -> u8 {
        use forward_type::*;
        match self {
            ForwardMessage::ConfigurationRequest { .. } => CONFIGURATION_REQUEST,
            ForwardMessage::DownloadRequest { .. } => DOWNLOAD_REQUEST,
            ForwardMessage::MsKeyRequest { .. } => MS_KEY_REQUEST,
            ForwardMessage::KeyGenerationRequest { .. } => KEY_GENERATION_REQUEST,
            ForwardMessage::ReauthenticateRequest { .. } => REAUTHENTICATE_REQUEST,
            ForwardMessage::CommitRequest => COMMIT_REQUEST,
            ForwardMessage::ProtocolCapabilityRequest { .. } => PROTOCOL_CAPABILITY_REQUEST,
            ForwardMessage::SsprConfigurationRequest { .. } => SSPR_CONFIGURATION_REQUEST,
            ForwardMessage::SsprDownloadRequest { .. } => SSPR_DOWNLOAD_REQUEST,
            ForwardMessage::ValidationRequest { .. } => VALIDATION_REQUEST,
            ForwardMessage::OtapaRequest { .. } => OTAPA_REQUEST,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, Is683Error> {
        let mut w = BitWriter::new();
        w.write(u64::from(self.msg_type()), 8, "OTASP_MSG_TYPE")?;
        match self {
            ForwardMessage::ConfigurationRequest { block_ids } => {
                w.write(count_u8(block_ids.len(), "NUM_BLOCKS")?, 8, "NUM_BLOCKS")?;
                w.write_bytes(block_ids);
            }
            ForwardMessage::DownloadRequest { blocks, fresh } => {
                w.write(count_u8(blocks.len(), "NUM_BLOCKS")?, 8, "NUM_BLOCKS")?;
                for b in blocks {
                    write_block(&mut w, b.block_id(), &b.encode_data()?)?;
                }
                fresh.write(&mut w)?;
            }
            ForwardMessage::MsKeyRequest {
                a_key_p_rev,
                param_p,
                param_g,
            } => {
                w.write(u64::from(*a_key_p_rev), 8, "A_KEY_P_REV")?;
                if *a_key_p_rev < 3 {
                    write_len_prefixed(&mut w, param_p, "PARAM_P_LEN")?;
                    write_len_prefixed(&mut w, param_g, "PARAM_G_LEN")?;
                } else if !param_p.is_empty() || !param_g.is_empty() {
                    return Err(Is683Error::InvalidValue {
                        field: "PARAM_P/PARAM_G",
                        reason: "only sent when A_KEY_P_REV < 3".into(),
                    });
                }
            }
            ForwardMessage::KeyGenerationRequest { bs_result } => {
                write_len_prefixed(&mut w, bs_result, "BS_RESULT_LEN")?;
            }
            ForwardMessage::ReauthenticateRequest { rand } => {
                w.write(u64::from(*rand), 32, "RAND")?;
            }
            ForwardMessage::CommitRequest => {}
            ForwardMessage::ProtocolCapabilityRequest { request } => {
                if let Some(req) = request {
                    w.write(u64::from(req.otasp_p_rev), 8, "OTASP_P_REV")?;
                    w.write(
                        count_u8(req.record_types.len(), "NUM_CAP_RECORDS")?,
                        8,
                        "NUM_CAP_RECORDS",
                    )?;
                    w.write_bytes(&req.record_types);
                }
            }
            ForwardMessage::SsprConfigurationRequest { request } => match request {
                SsprConfigRequest::PrlDimensions => {
                    w.write(u64::from(SSPR_REV_BLOCK_PRL_DIMENSIONS), 8, "BLOCK_ID")?
                }
                SsprConfigRequest::Prl {
                    request_offset,
                    request_max_size,
                } => {
                    w.write(u64::from(SSPR_REV_BLOCK_PRL), 8, "BLOCK_ID")?;
                    w.write(u64::from(*request_offset), 16, "REQUEST_OFFSET")?;
                    w.write(u64::from(*request_max_size), 8, "REQUEST_MAX_SIZE")?;
                }
                SsprConfigRequest::ExtPrlDimensions => {
                    w.write(u64::from(SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS), 8, "BLOCK_ID")?
                }
                SsprConfigRequest::Other(id) => {
                    if matches!(*id, 0..=2) {
                        return Err(Is683Error::InvalidValue {
                            field: "BLOCK_ID",
                            reason: format!("use the dedicated variant for SSPR block {id}"),
                        });
                    }
                    w.write(u64::from(*id), 8, "BLOCK_ID")?
                }
            },
            ForwardMessage::SsprDownloadRequest { block, fresh } => {
                write_block(&mut w, block.block_id(), &block.encode_data()?)?;
                fresh.write(&mut w)?;
            }
            ForwardMessage::ValidationRequest { blocks } => {
                w.write(count_u8(blocks.len(), "NUM_BLOCKS")?, 8, "NUM_BLOCKS")?;
                for b in blocks {
                    write_block(&mut w, b.block_id(), &b.encode_data()?)?;
                }
            }
            ForwardMessage::OtapaRequest { start } => {
                w.write_bool(*start);
                w.write(0, 7, "RESERVED")?;
            }
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Is683Error> {
        use forward_type::*;
        let mut r = BitReader::new(bytes);
        let Some(&code) = bytes.first() else {
            return Err(Is683Error::Empty);
        };
        r.read(8, "OTASP_MSG_TYPE")?;
        let msg = match code {
            CONFIGURATION_REQUEST => {
                let n = r.read_u8(8, "NUM_BLOCKS")?;
                ForwardMessage::ConfigurationRequest {
                    block_ids: r.read_bytes(usize::from(n), "BLOCK_ID")?,
                }
            }
            DOWNLOAD_REQUEST => {
                let n = r.read_u8(8, "NUM_BLOCKS")?;
                let mut blocks = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let (id, data) = read_block(&mut r)?;
                    blocks.push(NamBlock::decode_data(id, &data)?);
                }
                ForwardMessage::DownloadRequest {
                    blocks,
                    fresh: Fresh::read(&mut r)?,
                }
            }
            MS_KEY_REQUEST => {
                let a_key_p_rev = r.read_u8(8, "A_KEY_P_REV")?;
                let (param_p, param_g) = if a_key_p_rev < 3 {
                    (
                        read_len_prefixed(&mut r, "PARAM_P")?,
                        read_len_prefixed(&mut r, "PARAM_G")?,
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
                ForwardMessage::MsKeyRequest {
                    a_key_p_rev,
                    param_p,
                    param_g,
                }
            }
            KEY_GENERATION_REQUEST => ForwardMessage::KeyGenerationRequest {
                bs_result: read_len_prefixed(&mut r, "BS_RESULT")?,
            },
            REAUTHENTICATE_REQUEST => ForwardMessage::ReauthenticateRequest {
                rand: r.read_u32(32, "RAND")?,
            },
            COMMIT_REQUEST => ForwardMessage::CommitRequest,
            PROTOCOL_CAPABILITY_REQUEST => {
                let request = if r.remaining_bits() == 0 {
                    None
                } else {
                    let otasp_p_rev = r.read_u8(8, "OTASP_P_REV")?;
                    let n = r.read_u8(8, "NUM_CAP_RECORDS")?;
                    Some(CapabilityRequest {
                        otasp_p_rev,
                        record_types: r.read_bytes(usize::from(n), "CAP_RECORD_TYPE")?,
                    })
                };
                ForwardMessage::ProtocolCapabilityRequest { request }
            }
            SSPR_CONFIGURATION_REQUEST => {
                let request = match r.read_u8(8, "BLOCK_ID")? {
                    SSPR_REV_BLOCK_PRL_DIMENSIONS => SsprConfigRequest::PrlDimensions,
                    SSPR_REV_BLOCK_PRL => SsprConfigRequest::Prl {
                        request_offset: r.read_u16(16, "REQUEST_OFFSET")?,
                        request_max_size: r.read_u8(8, "REQUEST_MAX_SIZE")?,
                    },
                    SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS => SsprConfigRequest::ExtPrlDimensions,
                    other => SsprConfigRequest::Other(other),
                };
                ForwardMessage::SsprConfigurationRequest { request }
            }
            SSPR_DOWNLOAD_REQUEST => {
                let (id, data) = read_block(&mut r)?;
                ForwardMessage::SsprDownloadRequest {
                    block: SsprBlock::decode_data(id, &data)?,
                    fresh: Fresh::read(&mut r)?,
                }
            }
            VALIDATION_REQUEST => {
                let n = r.read_u8(8, "NUM_BLOCKS")?;
                let mut blocks = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let (id, data) = read_block(&mut r)?;
                    blocks.push(ValidationBlock::decode_data(id, &data)?);
                }
                ForwardMessage::ValidationRequest { blocks }
            }
            OTAPA_REQUEST => {
                let start = r.read_bool("START_STOP")?;
                r.read(7, "RESERVED")?;
                ForwardMessage::OtapaRequest { start }
            }
            other => {
                return Err(Is683Error::UnknownMessageType {
                    link: Link::Forward,
                    code: other,
                })
            }
        };
        finish(&r)?;
        Ok(msg)
    }
}

impl ReverseMessage {
    pub fn msg_type(&self) -> u8 {
        use reverse_type::*;
        match self {
            ReverseMessage::ConfigurationResponse { .. } => CONFIGURATION_RESPONSE,
            ReverseMessage::DownloadResponse { .. } => DOWNLOAD_RESPONSE,
            ReverseMessage::MsKeyResponse { .. } => MS_KEY_RESPONSE,
            ReverseMessage::KeyGenerationResponse { .. } => KEY_GENERATION_RESPONSE,
            ReverseMessage::ReauthenticateResponse { .. } => REAUTHENTICATE_RESPONSE,
            ReverseMessage::CommitResponse { .. } => COMMIT_RESPONSE,
            ReverseMessage::ProtocolCapabilityResponse { .. } => PROTOCOL_CAPABILITY_RESPONSE,
            ReverseMessage::SsprConfigurationResponse { .. } => SSPR_CONFIGURATION_RESPONSE,
            ReverseMessage::SsprDownloadResponse { .. } => SSPR_DOWNLOAD_RESPONSE,
            ReverseMessage::ValidationResponse { .. } => VALIDATION_RESPONSE,
            ReverseMessage::OtapaResponse { .. } => OTAPA_RESPONSE,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, Is683Error> {
        let mut w = BitWriter::new();
        w.write(u64::from(self.msg_type()), 8, "OTASP_MSG_TYPE")?;
        match self {
            ReverseMessage::ConfigurationResponse { blocks, fresh } => {
                w.write(count_u8(blocks.len(), "NUM_BLOCKS")?, 8, "NUM_BLOCKS")?;
                for (b, _) in blocks {
                    write_block(&mut w, b.block_id(), &b.encode_data()?)?;
                }
                for (_, code) in blocks {
                    write_result(&mut w, *code)?;
                }
                fresh.write(&mut w)?;
            }
            ReverseMessage::DownloadResponse { results }
            | ReverseMessage::ValidationResponse { results } => {
                write_id_results(&mut w, results)?;
            }
            ReverseMessage::MsKeyResponse { result }
            | ReverseMessage::CommitResponse { result } => {
                write_result(&mut w, *result)?;
            }
            ReverseMessage::KeyGenerationResponse { result, ms_result } => {
                write_result(&mut w, *result)?;
                write_len_prefixed(&mut w, ms_result, "MS_RESULT_LEN")?;
            }
            ReverseMessage::ReauthenticateResponse {
                authr,
                randc,
                count,
                auth_data,
            } => {
                w.write(u64::from(*authr), 18, "AUTHR")?;
                w.write(u64::from(*randc), 8, "RANDC")?;
                w.write(u64::from(*count), 6, "COUNT")?;
                w.write(u64::from(*auth_data), 24, "AUTH_DATA")?;
            }
            ReverseMessage::ProtocolCapabilityResponse {
                mob_firm_rev,
                mob_model,
                features,
                additional,
            } => {
                w.write(u64::from(*mob_firm_rev), 16, "MOB_FIRM_REV")?;
                w.write(u64::from(*mob_model), 8, "MOB_MODEL")?;
                w.write(count_u8(features.len(), "NUM_FEATURES")?, 8, "NUM_FEATURES")?;
                for (id, p_rev) in features {
                    w.write(u64::from(*id), 8, "FEATURE_ID")?;
                    w.write(u64::from(*p_rev), 8, "FEATURE_P_REV")?;
                }
                write_len_prefixed(&mut w, additional, "ADD_LENGTH")?;
            }
            ReverseMessage::SsprConfigurationResponse {
                block,
                result,
                fresh,
            } => {
                let data = block.encode_data()?;
                w.write(u64::from(block.block_id()), 8, "BLOCK_ID")?;
                write_result(&mut w, *result)?;
                write_len_prefixed(&mut w, &data, "BLOCK_LEN")?;
                fresh.write(&mut w)?;
            }
            ReverseMessage::SsprDownloadResponse {
                block_id,
                result,
                segment_offset,
                segment_size,
            } => {
                w.write(u64::from(*block_id), 8, "BLOCK_ID")?;
                write_result(&mut w, *result)?;
                w.write(u64::from(*segment_offset), 16, "SEGMENT_OFFSET")?;
                w.write(u64::from(*segment_size), 8, "SEGMENT_SIZE")?;
            }
            ReverseMessage::OtapaResponse { result, rand_otapa } => {
                write_result(&mut w, *result)?;
                w.write(0, 7, "RESERVED")?;
                w.write_bool(rand_otapa.is_some());
                if let Some(rand) = rand_otapa {
                    w.write(u64::from(*rand), 32, "RAND_OTAPA")?;
                }
            }
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Is683Error> {
        use reverse_type::*;
        let mut r = BitReader::new(bytes);
        let Some(&code) = bytes.first() else {
            return Err(Is683Error::Empty);
        };
        r.read(8, "OTASP_MSG_TYPE")?;
        let msg = match code {
            CONFIGURATION_RESPONSE => {
                let n = r.read_u8(8, "NUM_BLOCKS")?;
                let mut raw = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    raw.push(read_block(&mut r)?);
                }
                let mut blocks = Vec::with_capacity(raw.len());
                for (id, data) in raw {
                    let block = NamConfigBlock::decode_data(id, &data)?;
                    blocks.push((block, ResultCode::Accepted));
                }
                for entry in blocks.iter_mut() {
                    entry.1 = result(&mut r)?;
                }
                ReverseMessage::ConfigurationResponse {
                    blocks,
                    fresh: Fresh::read(&mut r)?,
                }
            }
            DOWNLOAD_RESPONSE => ReverseMessage::DownloadResponse {
                results: read_id_results(&mut r)?,
            },
            MS_KEY_RESPONSE => ReverseMessage::MsKeyResponse {
                result: result(&mut r)?,
            },
            KEY_GENERATION_RESPONSE => ReverseMessage::KeyGenerationResponse {
                result: result(&mut r)?,
                ms_result: read_len_prefixed(&mut r, "MS_RESULT")?,
            },
            REAUTHENTICATE_RESPONSE => ReverseMessage::ReauthenticateResponse {
                authr: r.read_u32(18, "AUTHR")?,
                randc: r.read_u8(8, "RANDC")?,
                count: r.read_u8(6, "COUNT")?,
                auth_data: r.read_u32(24, "AUTH_DATA")?,
            },
            COMMIT_RESPONSE => ReverseMessage::CommitResponse {
                result: result(&mut r)?,
            },
            PROTOCOL_CAPABILITY_RESPONSE => {
                let mob_firm_rev = r.read_u16(16, "MOB_FIRM_REV")?;
                let mob_model = r.read_u8(8, "MOB_MODEL")?;
                let n = r.read_u8(8, "NUM_FEATURES")?;
                let features = (0..n)
                    .map(|_| Ok((r.read_u8(8, "FEATURE_ID")?, r.read_u8(8, "FEATURE_P_REV")?)))
                    .collect::<Result<Vec<_>, Is683Error>>()?;
                ReverseMessage::ProtocolCapabilityResponse {
                    mob_firm_rev,
                    mob_model,
                    features,
                    additional: read_len_prefixed(&mut r, "ADD_FIELDS")?,
                }
            }
            SSPR_CONFIGURATION_RESPONSE => {
                let id = r.read_u8(8, "BLOCK_ID")?;
                let result = result(&mut r)?;
                let data = read_len_prefixed(&mut r, "PARAM_DATA")?;
                ReverseMessage::SsprConfigurationResponse {
                    block: SsprConfigBlock::decode_data(id, &data)?,
                    result,
                    fresh: Fresh::read(&mut r)?,
                }
            }
            SSPR_DOWNLOAD_RESPONSE => ReverseMessage::SsprDownloadResponse {
                block_id: r.read_u8(8, "BLOCK_ID")?,
                result: result(&mut r)?,
                segment_offset: r.read_u16(16, "SEGMENT_OFFSET")?,
                segment_size: r.read_u8(8, "SEGMENT_SIZE")?,
            },
            VALIDATION_RESPONSE => ReverseMessage::ValidationResponse {
                results: read_id_results(&mut r)?,
            },
            OTAPA_RESPONSE => {
                let result = result(&mut r)?;
                r.read(7, "RESERVED")?;
                let rand_otapa = if r.read_bool("NAM_LOCK_IND")? {
                    Some(r.read_u32(32, "RAND_OTAPA")?)
                } else {
                    None
                };
                ReverseMessage::OtapaResponse { result, rand_otapa }
            }
            other => {
                return Err(Is683Error::UnknownMessageType {
                    link: Link::Reverse,
                    code: other,
                })
            }
        };
        finish(&r)?;
        Ok(msg)
    }
}
