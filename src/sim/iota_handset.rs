//! A simulated legacy CDMA handset's IOTA client (3GPP2 C.S0040 IOTA-DM
//! carrying C.S0016 OTASP/OTAPA in MMC documents, docs/iota-mmc.md).
//!
//! This module holds the handset's memory (the committed NAM and PRL that
//! survive a reboot, the pending ones an OTAF downloads but has not yet
//! committed) and the IS-683 answering logic: given one server document it
//! decides what the handset posts next. It does no I/O and reads no clock,
//! so the same code drives unit tests, the demo and a later HTTP loop,
//! which only has to move documents between this module and the server:
//!
//! ```text
//! let mut doc = http_get(url, handset.start_document());
//! loop {
//!     match handset.handle(&doc) {
//!         Step::Post(answer) => doc = http_post(url, answer),
//!         other => break other,
//!     }
//! }
//! ```
//!
//! The handset answers the way C.S0016 §3 asks a mobile station to:
//! every forward message gets exactly one reverse message with the same
//! `seq`, downloads land in pending storage and only a Commit Request makes
//! them permanent, a PRL is verified (PR_LIST_SIZE, PR_LIST_CRC) before it
//! may be committed, and a session that ends without a commit leaves the
//! handset as it was. [`IotaFault`] makes it misbehave on purpose so the
//! server's error paths can be exercised.

use std::collections::HashSet;

use crate::iota::is683::{
    decode_imsi_11_12, decode_mcc, decode_min, encode_imsi_11_12, encode_mcc, encode_min,
    AccessFlags, CdmaAnalogNamConfig, CdmaNamConfig, ForwardMessage, Fresh, Imsi, ImsiT,
    Is683Error, Mdn, NamBlock, NamConfigBlock, Prl, PrlDimensions, PrlSegment, ResultCode,
    ReverseMessage, SidNid, SsprBlock, SsprConfigBlock, SsprConfigRequest, ValidationBlock,
    MAX_SEGMENT_SIZE, NAM_BLOCK_CDMA, NAM_BLOCK_CDMA_ANALOG, NAM_BLOCK_IMSI_T, NAM_BLOCK_MDN,
    SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS, SSPR_REV_BLOCK_PRL,
};
use crate::iota::mmc::{Control, ControlItem, DeviceInfo, Is683Payload, Link, MmcDocument};

/// FEATURE_ID of NAM Download in the Protocol Capability Response
/// (C.S0016 §3.5.1.7; the values docs/iota-mmc.md lists).
pub const FEATURE_NAM_DOWNLOAD: u8 = 0x00;
/// FEATURE_ID of Key Exchange (A-key generation).
pub const FEATURE_KEY_EXCHANGE: u8 = 0x01;
/// FEATURE_ID of System Selection for Preferred Roaming (PRL download).
pub const FEATURE_SSPR: u8 = 0x02;
/// FEATURE_ID of Service Programming Lock (SPC validation).
pub const FEATURE_SERVICE_PROGRAMMING_LOCK: u8 = 0x03;
/// FEATURE_ID of Over-The-Air Parameter Administration.
pub const FEATURE_OTAPA: u8 = 0x04;

/// The features this simulator actually implements, with their
/// FEATURE_P_REV: NAM Download 2 (IS-683-A), SSPR 1 (IS-683-A PRL),
/// Service Programming Lock 1 and OTAPA 1. Key Exchange is left out on
/// purpose: the handset cannot run the A-key Diffie-Hellman exchange and
/// answers MS Key Requests with "message not expected", so advertising it
/// would invite requests it must refuse.
pub const DEFAULT_FEATURES: [(u8, u8); 4] = [
    (FEATURE_NAM_DOWNLOAD, 2),
    (FEATURE_SSPR, 1),
    (FEATURE_SERVICE_PROGRAMMING_LOCK, 1),
    (FEATURE_OTAPA, 1),
];

/// The factory Service Programming Code. A mobile whose SPC is still the
/// default is not programming-locked (C.S0016 service programming lock).
pub const DEFAULT_SPC: &str = "000000";

/// Station class mark (C.S0005 Table 2.3.3-1) of a typical 2000s dual-mode
/// handset: extended SCM, dual mode, slotted, 25 MHz, continuous
/// transmission, power class III.
const SCM_BASE: u8 = 0xEA;
/// SCM bit 4, "MEID configured" (C.S0005-D).
const SCM_MEID: u8 = 0x10;
/// SCM bit 5, slotted class.
const SCM_SLOTTED: u8 = 0x20;

/// A misbehaviour the simulated handset injects, so tests and load runs
/// can check how the server copes with a real-world failure. Faults apply
/// to every session until [`IotaHandset::set_fault`] changes them, so a
/// test decides itself whether a retry should succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IotaFault {
    /// A well-behaved handset.
    #[default]
    None,
    /// The packet-data call drops (coverage loss, battery pull): the
    /// handset answers the first `after_requests` server documents of a
    /// session and, when the next one arrives, drops the call without
    /// answering; pending downloads are lost.
    DropCall { after_requests: usize },
    /// The handset refuses the first parameter block of every Download
    /// Request with RESULT_CODE "invalid parameter" and stores nothing
    /// from it (e.g. a NAM value its firmware considers out of range).
    RejectBlock,
    /// The PRL arrives corrupted: the handset answers the last SSPR
    /// segment with "CRC error" whatever the octets were, and discards
    /// the list.
    BadPrlCrc,
}

/// What the handset says about itself: the `<device>` of its first
/// request and the fixed, factory-set values it reports in IS-683
/// responses. None of these change over the air except the SPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandsetIdentity {
    /// ESN, 8 hex digits (the pESN for an MEID handset).
    pub esn: String,
    /// MEID, 14 hex digits without check digit, for MEID handsets.
    pub meid: Option<String>,
    /// Manufacturer for `<device make>`; left out of the document when empty.
    pub make: String,
    /// Model for `<device model>`; left out of the document when empty.
    pub model: String,
    /// MOB_FIRM_REV of the Protocol Capability Response.
    pub firmware_rev: u16,
    /// The firmware version as the registry spells it, for `<device
    /// firmware>` (MMC 1.1, the IOTA FOTA query); `None` leaves it out.
    pub firmware: Option<String>,
    /// MOB_MODEL of the Protocol Capability Response.
    pub mob_model: u8,
    /// Station class mark reported in the CDMA/Analog NAM block.
    pub scm: u8,
    /// MOB_P_REV, the CDMA protocol revision (6 = IS-2000 Release 0).
    pub mob_p_rev: u8,
    /// MAX_SID_NID: how many SID/NID pairs the NAM can hold; a download
    /// with more is refused with "SID/NID length mismatch".
    pub max_sid_nid: u8,
    /// MAX_PR_LIST_SIZE: the PRL memory in octets; a longer PRL is refused
    /// with "PRL length mismatch".
    pub max_prl_size: u16,
    /// (FEATURE_ID, FEATURE_P_REV) pairs of the Protocol Capability
    /// Response, [`DEFAULT_FEATURES`] unless set otherwise.
    pub features: Vec<(u8, u8)>,
    /// The factory SPC, six decimal digits; anything but
    /// [`DEFAULT_SPC`] makes the handset programming-locked until a
    /// Validation Request verifies it.
    pub spc: String,
}

impl HandsetIdentity {
    /// An identity with typical values for everything the constructor does
    /// not take: SCM 0xEA (0xFA with MEID), MOB_P_REV 6, 20 SID/NID
    /// pairs, 8 KiB of PRL memory, [`DEFAULT_FEATURES`], SPC 000000.
    /// ESN and MEID are not checked here; the MMC encoder refuses malformed
    /// ones when the first document is sent.
    pub fn new(
        esn: &str,
        meid: Option<&str>,
        make: &str,
        model: &str,
        firmware_rev: u16,
        mob_model: u8,
    ) -> Self {
        Self {
            esn: esn.to_ascii_uppercase(),
            meid: meid.map(str::to_ascii_uppercase),
            make: make.to_string(),
            model: model.to_string(),
            firmware_rev,
            firmware: None,
            mob_model,
            scm: if meid.is_some() {
                SCM_BASE | SCM_MEID
            } else {
                SCM_BASE
            },
            mob_p_rev: 6,
            max_sid_nid: 20,
            max_prl_size: 8192,
            features: DEFAULT_FEATURES.to_vec(),
            spc: DEFAULT_SPC.to_string(),
        }
    }
}

/// An IMSI as the handset keeps it: decimal digits, the form a customer
/// care screen shows, plus the class bits that have no digit form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImsi {
    /// IMSI class: 0 = 15-digit class 0 IMSI, 1 = class 1.
    pub class: u8,
    /// IMSI_ADDR_NUM (class 1 only).
    pub addr_num: u8,
    /// Mobile country code, 3 digits.
    pub mcc: String,
    /// IMSI digits 11 and 12 (the MNC of a class 0 IMSI), 2 digits.
    pub imsi_11_12: String,
    /// The last ten digits, IMSI_S; for IMSI_M this is the MIN.
    pub min: String,
}

impl StoredImsi {
    /// The value of a never-programmed IMSI: every digit zero.
    pub fn unprogrammed() -> Self {
        Self {
            class: 0,
            addr_num: 0,
            mcc: "000".into(),
            imsi_11_12: "00".into(),
            min: "0000000000".into(),
        }
    }

    /// Reads the on-air form; fails when a digit group holds a value the
    /// C.S0005 §2.3.1 encodings cannot produce.
    pub fn from_codec(imsi: &Imsi) -> Result<Self, Is683Error> {
        Ok(Self {
            class: imsi.class,
            addr_num: imsi.addr_num,
            mcc: decode_mcc(imsi.mcc)?,
            imsi_11_12: decode_imsi_11_12(imsi.imsi_11_12)?,
            min: decode_min(imsi.imsi_s)?,
        })
    }

    /// The on-air form.
    pub fn to_codec(&self) -> Result<Imsi, Is683Error> {
        Ok(Imsi {
            class: self.class,
            addr_num: self.addr_num,
            mcc: encode_mcc(&self.mcc)?,
            imsi_11_12: encode_imsi_11_12(&self.imsi_11_12)?,
            imsi_s: encode_min(&self.min)?,
        })
    }

    /// The 15 digits MCC + IMSI_11_12 + IMSI_S.
    pub fn digits(&self) -> String {
        format!("{}{}{}", self.mcc, self.imsi_11_12, self.min)
    }
}

impl Default for StoredImsi {
    fn default() -> Self {
        Self::unprogrammed()
    }
}

/// The NAM (number assignment module) as the handset stores it: what the
/// OTAF downloads, what a Configuration Request reads back and, once
/// committed, what the handset attaches with after a reboot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamStore {
    /// IMSI_M; its `min` is the MIN.
    pub imsi_m: StoredImsi,
    /// IMSI_T, the true IMSI of IS-2000 handsets.
    pub imsi_t: StoredImsi,
    /// FIRSTCHP, first analog paging channel.
    pub firstchp: u16,
    /// HOME_SID, the analog home system.
    pub home_sid: u16,
    /// EX, extended address (analog).
    pub ex: bool,
    /// ACCOLC, LOCAL_CONTROL and the MOB_TERM_HOME / _FOR_SID / _FOR_NID
    /// registration flags.
    pub access: AccessFlags,
    /// The home SID/NID pairs.
    pub sid_nid: Vec<SidNid>,
    /// The phone number, `None` while none is programmed.
    pub mdn: Option<String>,
    /// Set once a Commit Request has stored NAM parameters, i.e. the
    /// handset no longer runs on its factory NAM. This is what a handset
    /// UI would show as "activated".
    pub activated: bool,
}

impl Default for NamStore {
    /// The factory NAM: every IMSI digit zero (MIN 0000000000), no MDN, no
    /// home SID/NID, ACCOLC 0 (the last MIN digit, as C.S0005 derives it), and
    /// registration enabled everywhere, which is what lets an unactivated
    /// handset originate the data call that activates it.
    fn default() -> Self {
        Self {
            imsi_m: StoredImsi::unprogrammed(),
            imsi_t: StoredImsi::unprogrammed(),
            firstchp: 0,
            home_sid: 0,
            ex: false,
            access: AccessFlags {
                accolc: 0,
                local_control: false,
                mob_term_home: true,
                mob_term_for_sid: true,
                mob_term_for_nid: true,
            },
            sid_nid: Vec::new(),
            mdn: None,
            activated: false,
        }
    }
}

/// Why a parameter block was refused: the RESULT_CODE sent and a line for
/// the log.
struct Rejection {
    code: ResultCode,
    why: String,
}

impl Rejection {
    fn new(code: ResultCode, why: impl Into<String>) -> Self {
        Self {
            code,
            why: why.into(),
        }
    }
}

impl NamStore {
    /// The CDMA/Analog NAM block of a Configuration Response (§3.5.2.1).
    fn cdma_analog_config(
        &self,
        identity: &HandsetIdentity,
    ) -> Result<CdmaAnalogNamConfig, Is683Error> {
        Ok(CdmaAnalogNamConfig {
            firstchp: self.firstchp,
            home_sid: self.home_sid,
            ex: self.ex,
            scm: identity.scm,
            mob_p_rev: identity.mob_p_rev,
            imsi_m: self.imsi_m.to_codec()?,
            access: self.access,
            max_sid_nid: identity.max_sid_nid,
            sid_nid: self.sid_nid.clone(),
        })
    }

    /// The CDMA NAM block of a Configuration Response (§3.5.2.3).
    fn cdma_config(&self, identity: &HandsetIdentity) -> Result<CdmaNamConfig, Is683Error> {
        Ok(CdmaNamConfig {
            slotted_mode: identity.scm & SCM_SLOTTED != 0,
            mob_p_rev: identity.mob_p_rev,
            imsi_m: self.imsi_m.to_codec()?,
            access: self.access,
            max_sid_nid: identity.max_sid_nid,
            sid_nid: self.sid_nid.clone(),
        })
    }

    /// A NAM parameter block of a Configuration Response, or `None` for a
    /// BLOCK_ID the handset does not have.
    fn config_block(
        &self,
        block_id: u8,
        identity: &HandsetIdentity,
    ) -> Result<Option<NamConfigBlock>, Is683Error> {
        Ok(Some(match block_id {
            NAM_BLOCK_CDMA_ANALOG => NamConfigBlock::CdmaAnalog(self.cdma_analog_config(identity)?),
            NAM_BLOCK_MDN => NamConfigBlock::Mdn(Mdn::new(self.mdn.as_deref().unwrap_or(""))),
            NAM_BLOCK_CDMA => NamConfigBlock::Cdma(self.cdma_config(identity)?),
            NAM_BLOCK_IMSI_T => NamConfigBlock::ImsiT(ImsiT {
                imsi_t: self.imsi_t.to_codec()?,
            }),
            _ => return Ok(None),
        }))
    }

    /// Checks that every block a Configuration Request may ask for can be
    /// encoded, so a handset built from this NAM always answers.
    fn check(&self, identity: &HandsetIdentity) -> Result<(), Is683Error> {
        for id in [
            NAM_BLOCK_CDMA_ANALOG,
            NAM_BLOCK_MDN,
            NAM_BLOCK_CDMA,
            NAM_BLOCK_IMSI_T,
        ] {
            if let Some(block) = self.config_block(id, identity)? {
                block.encode_data()?;
            }
        }
        if self.sid_nid.len() > usize::from(identity.max_sid_nid) {
            return Err(Is683Error::InvalidValue {
                field: "SID/NID pairs",
                reason: format!(
                    "{} pairs but MAX_SID_NID is {}",
                    self.sid_nid.len(),
                    identity.max_sid_nid
                ),
            });
        }
        Ok(())
    }

    /// Stores one downloaded block. Validates before writing anything, so
    /// a refused block leaves the NAM untouched.
    fn apply(&mut self, block: &NamBlock, max_sid_nid: u8) -> Result<(), Rejection> {
        let imsi = |imsi: &Imsi, name: &str| {
            StoredImsi::from_codec(imsi)
                .map_err(|e| Rejection::new(ResultCode::InvalidParameter, format!("{name}: {e}")))
        };
        let pairs = |pairs: &[SidNid]| {
            if pairs.len() > usize::from(max_sid_nid) {
                Err(Rejection::new(
                    ResultCode::SidNidLengthMismatch,
                    format!("{} SID/NID pairs, the NAM holds {max_sid_nid}", pairs.len()),
                ))
            } else {
                Ok(pairs.to_vec())
            }
        };
        match block {
            NamBlock::CdmaAnalog(b) => {
                let imsi_m = imsi(&b.imsi_m, "IMSI_M")?;
                let sid_nid = pairs(&b.sid_nid)?;
                self.firstchp = b.firstchp;
                self.home_sid = b.home_sid;
                self.ex = b.ex;
                self.imsi_m = imsi_m;
                self.access = b.access;
                self.sid_nid = sid_nid;
            }
            NamBlock::Cdma(b) => {
                let imsi_m = imsi(&b.imsi_m, "IMSI_M")?;
                let sid_nid = pairs(&b.sid_nid)?;
                self.imsi_m = imsi_m;
                self.access = b.access;
                self.sid_nid = sid_nid;
            }
            NamBlock::ImsiT(b) => self.imsi_t = imsi(&b.imsi_t, "IMSI_T")?,
            NamBlock::Mdn(m) => {
                self.mdn = (!m.digits.is_empty()).then(|| m.digits.clone());
            }
            NamBlock::Raw { block_id, .. } => {
                return Err(Rejection::new(
                    ResultCode::BlockIdNotSupported,
                    format!("no NAM block 0x{block_id:02X}"),
                ))
            }
        }
        Ok(())
    }
}

/// What [`IotaHandset::handle`] tells the caller to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// POST this document next (boxed: it dwarfs the other variants).
    Post(Box<MmcDocument>),
    /// The server ended the session with `terminate`; `reboot` when it
    /// also told the handset to restart, `reason` from the terminate.
    Finished {
        reboot: bool,
        reason: Option<String>,
    },
    /// The server refused the session: `terminate` with a `<status>` code
    /// of 400 or more (e.g. 403, handset already activated).
    Refused { code: u16, text: String },
    /// [`IotaFault::DropCall`] fired: the handset dropped the data call
    /// without answering.
    Dropped,
    /// The server sent something the handset cannot answer (an
    /// undecodable or reverse-link IS-683 message, a wrong or missing
    /// session id, ...). The session is over; the caller may send
    /// [`IotaHandset::abandon_document`] to tell the server.
    ProtocolError(String),
}

/// A PRL the handset has verified (size and CRC) and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredPrl {
    bytes: Vec<u8>,
    prl: Prl,
}

/// Progress of an SSPR download within a session.
#[derive(Debug, Clone, Default)]
enum PrlReception {
    #[default]
    Idle,
    /// Segments received so far, contiguous from offset 0.
    Receiving(Vec<u8>),
    /// The last segment arrived and the list verified; waits for Commit.
    Complete(StoredPrl),
}

/// Everything that lives only as long as one IOTA session.
#[derive(Debug, Clone, Default)]
struct Session {
    id: Option<String>,
    /// Server documents received in this session.
    documents: usize,
    /// The committed NAM with this session's downloads applied; `None`
    /// until a block has been stored.
    pending_nam: Option<NamStore>,
    /// A new SPC from Change SPC, stored on commit.
    pending_spc: Option<String>,
    prl: PrlReception,
    otapa_active: bool,
    /// Verify SPC succeeded in this session (lifts the programming lock).
    spc_verified: bool,
}

/// The simulated handset: identity, non-volatile memory, the current IOTA
/// session and a log of everything that crossed the air interface.
#[derive(Debug, Clone)]
pub struct IotaHandset {
    identity: HandsetIdentity,
    fault: IotaFault,
    nam: NamStore,
    prl: Option<StoredPrl>,
    spc: String,
    session: Session,
    /// The last session ended; the next server document starts a new one.
    ended: bool,
    rebooted: bool,
    log: Vec<String>,
}

impl IotaHandset {
    /// A handset fresh from the factory: default NAM ([`NamStore::default`]),
    /// no PRL.
    pub fn new(identity: HandsetIdentity, fault: IotaFault) -> Self {
        let spc = identity.spc.clone();
        Self {
            identity,
            fault,
            nam: NamStore::default(),
            prl: None,
            spc,
            session: Session::default(),
            ended: false,
            rebooted: false,
            log: Vec::new(),
        }
    }

    /// Replaces the committed NAM, e.g. with the default NAM an operator
    /// preloads so the handset can make its activation data call. Fails
    /// when the NAM could not be reported in a Configuration Response
    /// (malformed digits, more SID/NID pairs than MAX_SID_NID, ...).
    pub fn with_nam(mut self, nam: NamStore) -> Result<Self, Is683Error> {
        nam.check(&self.identity)?;
        self.nam = nam;
        Ok(self)
    }

    /// Preloads a committed PRL (raw octets, PR_LIST_SIZE and PR_LIST_CRC
    /// included). Fails when the octets do not decode as an IS-683-A PRL.
    pub fn with_prl(mut self, bytes: &[u8]) -> Result<Self, Is683Error> {
        let prl = Prl::decode(bytes)?;
        self.prl = Some(StoredPrl {
            bytes: bytes.to_vec(),
            prl,
        });
        Ok(self)
    }

    pub fn identity(&self) -> &HandsetIdentity {
        &self.identity
    }

    pub fn fault(&self) -> IotaFault {
        self.fault
    }

    /// Changes the fault for the following documents, e.g. to let a retry
    /// after [`IotaFault::DropCall`] succeed.
    pub fn set_fault(&mut self, fault: IotaFault) {
        self.fault = fault;
    }

    /// The document of the first GET: who the handset is, and a request to
    /// start a session. It has no session id, the server assigns one.
    pub fn start_document(&self) -> MmcDocument {
        let label = |s: &str| (!s.is_empty()).then(|| s.to_string());
        MmcDocument {
            session: None,
            device: Some(DeviceInfo {
                esn: Some(self.identity.esn.clone()),
                meid: self.identity.meid.clone(),
                make: label(&self.identity.make),
                model: label(&self.identity.model),
                firmware: self.identity.firmware.clone(),
            }),
            controls: vec![ControlItem {
                action: Control::Start,
                reason: None,
            }],
            messages: Vec::new(),
            package: None,
            status: None,
        }
    }

    /// The document a handset sends to abandon its session (the user
    /// cancelled, or after [`Step::ProtocolError`]): `terminate` from the
    /// handset side, with the session id when one was assigned.
    pub fn abandon_document(&self, reason: &str) -> MmcDocument {
        MmcDocument {
            session: self.session.id.clone(),
            controls: vec![ControlItem {
                action: Control::Terminate,
                reason: (!reason.is_empty()).then(|| reason.to_string()),
            }],
            ..MmcDocument::default()
        }
    }

    /// The NAM the handset attaches with: what survives a reboot.
    pub fn committed_nam(&self) -> &NamStore {
        &self.nam
    }

    /// The committed PRL octets, as downloaded.
    pub fn committed_prl(&self) -> Option<&[u8]> {
        self.prl.as_ref().map(|p| p.bytes.as_slice())
    }

    /// The committed PRL, decoded.
    pub fn committed_prl_list(&self) -> Option<&Prl> {
        self.prl.as_ref().map(|p| &p.prl)
    }

    /// The committed SPC.
    pub fn spc(&self) -> &str {
        &self.spc
    }

    /// Whether a server told the handset to restart (terminate + reboot).
    pub fn rebooted(&self) -> bool {
        self.rebooted
    }

    /// The session id of the current (or last) session.
    pub fn session_id(&self) -> Option<&str> {
        self.session.id.as_deref()
    }

    /// Whether an OTAPA Request with START_STOP = 1 is in force.
    pub fn otapa_active(&self) -> bool {
        self.session.otapa_active
    }

    /// Human-readable trace: `<-` what the server sent, `->` what the
    /// handset answered, `x` what the handset did on its own.
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// Handles one server document (the answer to the GET or to a POST)
    /// and returns what to do next. After a step other than
    /// [`Step::Post`] the session is over and the next document handled
    /// belongs to a new session.
    pub fn handle(&mut self, doc: &MmcDocument) -> Step {
        if self.ended {
            self.session = Session::default();
            self.ended = false;
        }
        self.session.documents += 1;
        if let IotaFault::DropCall { after_requests } = self.fault {
            if self.session.documents > after_requests {
                self.note(format!(
                    "x data call dropped on server document {} (fault: drop after {after_requests})",
                    self.session.documents
                ));
                return self.end(Step::Dropped);
            }
        }
        let terminate = doc.controls.iter().find(|c| c.action == Control::Terminate);
        if let Err(why) = self.check_session(doc, terminate.is_some()) {
            return self.protocol_error(why);
        }
        if doc.device.is_some() {
            self.note("<- (ignored) <device> in a server document");
        }
        let reboot = doc.has_control(Control::Reboot);
        if let Some(terminate) = terminate {
            return self.terminate(doc, terminate, reboot);
        }
        if reboot {
            return self.protocol_error("reboot without terminate".into());
        }
        if doc.has_control(Control::Start) {
            self.note("<- start: session accepted");
        }
        if let Some(status) = &doc.status {
            self.note(format!("<- status {}: {}", status.code, status.text));
        }

        // Decode everything first: a document the handset cannot read in
        // full gets no partial answer.
        let mut requests = Vec::with_capacity(doc.messages.len());
        let mut seen = HashSet::new();
        for m in &doc.messages {
            if m.link != Link::Forward {
                return self.protocol_error(format!(
                    "seq {}: a {} link message from the server; only forward-link requests are accepted",
                    m.seq,
                    m.link.as_str()
                ));
            }
            if !seen.insert(m.seq) {
                return self.protocol_error(format!("seq {} occurs twice", m.seq));
            }
            match ForwardMessage::decode(&m.bytes) {
                Ok(msg) => requests.push((m.seq, msg)),
                Err(e) => {
                    return self
                        .protocol_error(format!("seq {}: undecodable IS-683 message: {e}", m.seq))
                }
            }
        }
        if requests.is_empty() {
            self.note("<- poll");
        }
        let mut answers = Vec::with_capacity(requests.len());
        for (seq, request) in requests {
            self.note(format!("<- {}", describe_forward(&request)));
            let answer = match self.answer(&request) {
                Ok(answer) => answer,
                Err(why) => return self.protocol_error(format!("seq {seq}: {why}")),
            };
            self.note(format!("-> {}", describe_reverse(&answer)));
            match answer.encode() {
                Ok(bytes) => answers.push(Is683Payload {
                    link: Link::Reverse,
                    seq,
                    bytes,
                }),
                Err(e) => {
                    return self.protocol_error(format!("seq {seq}: cannot encode the answer: {e}"))
                }
            }
        }
        if answers.is_empty() {
            self.note("-> poll");
        }
        Step::Post(Box::new(MmcDocument {
            session: self.session.id.clone(),
            messages: answers,
            ..MmcDocument::default()
        }))
    }

    fn note(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }

    /// Adopts the session id of the server's first document that carries
    /// one and insists on it afterwards. Only a refusal sent before any
    /// session exists may come without one.
    fn check_session(&mut self, doc: &MmcDocument, terminating: bool) -> Result<(), String> {
        match (self.session.id.as_deref(), doc.session.as_deref()) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(format!(
                "session id {theirs:?} in a document of session {ours:?}"
            )),
            (Some(_), Some(_)) => Ok(()),
            (Some(ours), None) => Err(format!("server document without the session id {ours:?}")),
            (None, Some(theirs)) => {
                let theirs = theirs.to_string();
                self.note(format!("<- session {theirs}"));
                self.session.id = Some(theirs);
                Ok(())
            }
            (None, None) if terminating => Ok(()),
            (None, None) => Err("server document without a session id".into()),
        }
    }

    fn terminate(&mut self, doc: &MmcDocument, terminate: &ControlItem, reboot: bool) -> Step {
        if !doc.messages.is_empty() {
            // There is no request left to answer them in.
            self.note(format!(
                "<- (ignored) {} IS-683 message(s) sent with terminate",
                doc.messages.len()
            ));
        }
        if let Some(status) = doc.status.as_ref().filter(|s| s.code >= 400) {
            self.note(format!("<- refused: {} {}", status.code, status.text));
            let step = Step::Refused {
                code: status.code,
                text: status.text.clone(),
            };
            return self.end(step);
        }
        match &terminate.reason {
            Some(reason) => self.note(format!("<- terminate: {reason}")),
            None => self.note("<- terminate"),
        }
        if reboot {
            self.rebooted = true;
            self.note("<- reboot: restarting to attach with the committed NAM");
        }
        self.end(Step::Finished {
            reboot,
            reason: terminate.reason.clone(),
        })
    }

    fn protocol_error(&mut self, why: String) -> Step {
        self.note(format!("x protocol error: {why}"));
        self.end(Step::ProtocolError(why))
    }

    /// Ends the session: the data call is released and whatever was not
    /// committed is lost, as in a real handset's RAM.
    fn end(&mut self, step: Step) -> Step {
        let s = &self.session;
        let uncommitted = s.pending_nam.is_some()
            || s.pending_spc.is_some()
            || !matches!(s.prl, PrlReception::Idle);
        if uncommitted {
            self.note("x uncommitted downloads discarded");
        }
        self.session = Session {
            id: self.session.id.take(),
            documents: self.session.documents,
            ..Session::default()
        };
        self.ended = true;
        step
    }

    /// The C.S0016 service programming lock: a handset with a
    /// non-default SPC accepts no programming until Verify SPC succeeds.
    fn sp_locked(&self) -> bool {
        self.spc != DEFAULT_SPC && !self.session.spc_verified
    }

    /// The reverse message answering one forward message, or why there
    /// can be none.
    fn answer(&mut self, request: &ForwardMessage) -> Result<ReverseMessage, String> {
        Ok(match request {
            ForwardMessage::ConfigurationRequest { block_ids } => {
                ReverseMessage::ConfigurationResponse {
                    blocks: block_ids.iter().map(|&id| self.config_block(id)).collect(),
                    fresh: Fresh::Absent,
                }
            }
            ForwardMessage::DownloadRequest { blocks, .. } => ReverseMessage::DownloadResponse {
                results: self.download(blocks),
            },
            ForwardMessage::MsKeyRequest { .. } => ReverseMessage::MsKeyResponse {
                result: ResultCode::MessageNotExpected,
            },
            ForwardMessage::KeyGenerationRequest { .. } => ReverseMessage::KeyGenerationResponse {
                result: ResultCode::MessageNotExpected,
                ms_result: Vec::new(),
            },
            ForwardMessage::ReauthenticateRequest { .. } => {
                return Err(
                    "Re-Authenticate Request needs CAVE, which this handset lacks, \
                            and its response has no RESULT_CODE to refuse it with"
                        .into(),
                )
            }
            ForwardMessage::CommitRequest => ReverseMessage::CommitResponse {
                result: self.commit(),
            },
            ForwardMessage::ProtocolCapabilityRequest { .. } => {
                // A C.S0016-C request body asks for capability records
                // this IS-683-A handset does not have; it answers in the
                // IS-683-A form, as such a handset would.
                ReverseMessage::ProtocolCapabilityResponse {
                    mob_firm_rev: self.identity.firmware_rev,
                    mob_model: self.identity.mob_model,
                    features: self.identity.features.clone(),
                    additional: Vec::new(),
                }
            }
            ForwardMessage::SsprConfigurationRequest { request } => self.sspr_config(*request),
            ForwardMessage::SsprDownloadRequest { block, .. } => self.sspr_download(block),
            ForwardMessage::ValidationRequest { blocks } => ReverseMessage::ValidationResponse {
                results: self.validate(blocks),
            },
            ForwardMessage::OtapaRequest { start } => {
                self.session.otapa_active = *start;
                ReverseMessage::OtapaResponse {
                    result: ResultCode::Accepted,
                    // NAM_LOCK_IND 0: the NAM is not SPASM-protected.
                    rand_otapa: None,
                }
            }
        })
    }

    /// One block of a Configuration Response, read from committed memory
    /// (a pending download is not in effect yet).
    fn config_block(&mut self, block_id: u8) -> (NamConfigBlock, ResultCode) {
        let empty = NamConfigBlock::Raw {
            block_id,
            data: Vec::new(),
        };
        match self.nam.config_block(block_id, &self.identity) {
            Ok(Some(block)) => (block, ResultCode::Accepted),
            Ok(None) => (empty, ResultCode::BlockIdNotSupported),
            Err(e) => {
                // Unreachable for a NAM that passed `with_nam` or arrived
                // over the air, but a handset answers rather than panics.
                self.note(format!("x NAM block 0x{block_id:02X} unreadable: {e}"));
                (empty, ResultCode::RejectedUnknown)
            }
        }
    }

    /// Stores the blocks of a Download Request in the pending NAM.
    fn download(&mut self, blocks: &[NamBlock]) -> Vec<(u8, ResultCode)> {
        let locked = self.sp_locked();
        let had_pending = self.session.pending_nam.is_some();
        let mut pending = self
            .session
            .pending_nam
            .take()
            .unwrap_or_else(|| self.nam.clone());
        let mut stored_any = false;
        let mut results = Vec::with_capacity(blocks.len());
        let mut notes = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let outcome = if locked {
                Err(Rejection::new(
                    ResultCode::MobileStationLocked,
                    "SPC not verified",
                ))
            } else if i == 0 && self.fault == IotaFault::RejectBlock {
                Err(Rejection::new(
                    ResultCode::InvalidParameter,
                    "fault: reject the first block",
                ))
            } else {
                pending.apply(block, self.identity.max_sid_nid)
            };
            let id = block.block_id();
            match outcome {
                Ok(()) => {
                    stored_any = true;
                    results.push((id, ResultCode::Accepted));
                }
                Err(r) => {
                    notes.push(format!("x {} refused: {}", nam_block_name(id), r.why));
                    results.push((id, r.code));
                }
            }
        }
        if had_pending || stored_any {
            self.session.pending_nam = Some(pending);
        }
        self.log.extend(notes);
        results
    }

    /// Makes the pending NAM, SPC and verified PRL permanent.
    fn commit(&mut self) -> ResultCode {
        if self.sp_locked() {
            return ResultCode::MobileStationLocked;
        }
        let mut stored = Vec::new();
        if let Some(mut nam) = self.session.pending_nam.take() {
            nam.activated = true;
            self.nam = nam;
            stored.push("NAM");
        }
        if let Some(spc) = self.session.pending_spc.take() {
            self.spc = spc;
            stored.push("SPC");
        }
        match std::mem::take(&mut self.session.prl) {
            PrlReception::Complete(prl) => {
                self.prl = Some(prl);
                stored.push("PRL");
            }
            PrlReception::Receiving(partial) => {
                self.note(format!(
                    "x incomplete PRL ({} octets so far) not committed",
                    partial.len()
                ));
                self.session.prl = PrlReception::Receiving(partial);
            }
            PrlReception::Idle => {}
        }
        if stored.is_empty() {
            self.note("x commit: nothing pending");
        } else {
            self.note(format!("x committed {}", stored.join(", ")));
        }
        ResultCode::Accepted
    }

    fn sspr_config(&self, request: SsprConfigRequest) -> ReverseMessage {
        let (block, result) = match request {
            SsprConfigRequest::PrlDimensions => (
                SsprConfigBlock::PrlDimensions(self.prl_dimensions()),
                ResultCode::Accepted,
            ),
            SsprConfigRequest::Prl {
                request_offset,
                request_max_size,
            } => self.prl_read(request_offset, request_max_size),
            SsprConfigRequest::ExtPrlDimensions => (
                SsprConfigBlock::Raw {
                    block_id: SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS,
                    data: Vec::new(),
                },
                ResultCode::BlockIdNotSupported,
            ),
            SsprConfigRequest::Other(block_id) => (
                SsprConfigBlock::Raw {
                    block_id,
                    data: Vec::new(),
                },
                ResultCode::BlockIdNotSupported,
            ),
        };
        ReverseMessage::SsprConfigurationResponse {
            block,
            result,
            fresh: Fresh::Absent,
        }
    }

    /// PRL Dimensions of the committed list; all zero but the memory size
    /// (MAX_PR_LIST_SIZE is the handset's, not the list's) when none.
    fn prl_dimensions(&self) -> PrlDimensions {
        let max_pr_list_size = self.identity.max_prl_size;
        match &self.prl {
            Some(p) => PrlDimensions {
                max_pr_list_size,
                cur_pr_list_size: u16::try_from(p.bytes.len()).unwrap_or(u16::MAX),
                pr_list_id: p.prl.pr_list_id,
                num_acq_recs: u16::try_from(p.prl.acq_records.len()).unwrap_or(u16::MAX),
                num_sys_recs: u16::try_from(p.prl.sys_records.len()).unwrap_or(u16::MAX),
            },
            None => PrlDimensions {
                max_pr_list_size,
                ..PrlDimensions::default()
            },
        }
    }

    /// One segment of the committed PRL for an SSPR Configuration Request
    /// (§3.5.3.2), so an OTAF can read the list back.
    fn prl_read(&self, offset: u16, max_size: u8) -> (SsprConfigBlock, ResultCode) {
        let bytes = self.committed_prl().unwrap_or(&[]);
        let start = usize::from(offset);
        let max = usize::from(max_size.min(MAX_SEGMENT_SIZE));
        if max == 0 || start > bytes.len() {
            let empty = SsprConfigBlock::Raw {
                block_id: SSPR_REV_BLOCK_PRL,
                data: Vec::new(),
            };
            return (empty, ResultCode::InvalidParameter);
        }
        let end = (start + max).min(bytes.len());
        let segment = PrlSegment {
            last_segment: end == bytes.len(),
            segment_offset: offset,
            data: bytes[start..end].to_vec(),
        };
        (SsprConfigBlock::Prl(segment), ResultCode::Accepted)
    }

    fn sspr_download(&mut self, block: &SsprBlock) -> ReverseMessage {
        let (result, offset, size) = match block {
            SsprBlock::Prl(segment) => {
                let result = match self.receive_segment(segment) {
                    Ok(()) => ResultCode::Accepted,
                    Err(r) => {
                        self.note(format!("x PRL segment refused: {}", r.why));
                        r.code
                    }
                };
                (result, segment.segment_offset, segment.data.len())
            }
            // An SSPR_P_REV 1 handset has no Extended PRL.
            SsprBlock::ExtendedPrl(segment) => (
                ResultCode::BlockIdNotSupported,
                segment.segment_offset,
                segment.data.len(),
            ),
            SsprBlock::Raw { .. } => (ResultCode::BlockIdNotSupported, 0, 0),
        };
        ReverseMessage::SsprDownloadResponse {
            block_id: block.block_id(),
            result,
            segment_offset: offset,
            segment_size: u8::try_from(size).unwrap_or(u8::MAX),
        }
    }

    /// Accumulates one PRL segment; on the last one verifies the list.
    fn receive_segment(&mut self, segment: &PrlSegment) -> Result<(), Rejection> {
        if self.sp_locked() {
            return Err(Rejection::new(
                ResultCode::MobileStationLocked,
                "SPC not verified",
            ));
        }
        let offset = usize::from(segment.segment_offset);
        let mut buffer = if offset == 0 {
            // Offset 0 (re)starts the download, dropping a partial or
            // verified but uncommitted list.
            Vec::new()
        } else {
            match &mut self.session.prl {
                PrlReception::Receiving(buffer) if buffer.len() == offset => std::mem::take(buffer),
                other => {
                    let received = match other {
                        PrlReception::Receiving(buffer) => buffer.len(),
                        _ => 0,
                    };
                    // Kept as it is: the OTAF may resend the right segment.
                    return Err(Rejection::new(
                        ResultCode::PrlLengthMismatch,
                        format!("SEGMENT_OFFSET {offset}, but {received} octets were received"),
                    ));
                }
            }
        };
        self.session.prl = PrlReception::Idle;
        buffer.extend_from_slice(&segment.data);

        let max = usize::from(self.identity.max_prl_size);
        let declared = match buffer.as_slice() {
            [hi, lo, ..] => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        };
        if let Some(declared) = declared {
            if declared > max {
                return Err(Rejection::new(
                    ResultCode::PrlLengthMismatch,
                    format!("PR_LIST_SIZE {declared} exceeds the {max}-octet PRL memory"),
                ));
            }
            if buffer.len() > declared {
                return Err(Rejection::new(
                    ResultCode::PrlLengthMismatch,
                    format!(
                        "{} octets received for a PR_LIST_SIZE of {declared}",
                        buffer.len()
                    ),
                ));
            }
        }
        if !segment.last_segment {
            self.session.prl = PrlReception::Receiving(buffer);
            return Ok(());
        }
        if self.fault == IotaFault::BadPrlCrc {
            return Err(Rejection::new(
                ResultCode::CrcError,
                "fault: PRL corrupted in reception",
            ));
        }
        match Prl::decode(&buffer) {
            Ok(prl) => {
                self.note(format!(
                    "x PRL {} verified: {} octets, {} acquisition and {} system records",
                    prl.pr_list_id,
                    buffer.len(),
                    prl.acq_records.len(),
                    prl.sys_records.len()
                ));
                self.session.prl = PrlReception::Complete(StoredPrl { bytes: buffer, prl });
                Ok(())
            }
            Err(e) => {
                let code = match e {
                    Is683Error::CrcMismatch { .. } => ResultCode::CrcError,
                    Is683Error::PrlSizeMismatch { .. } | Is683Error::Truncated { .. } => {
                        ResultCode::PrlLengthMismatch
                    }
                    _ => ResultCode::InvalidParameter,
                };
                Err(Rejection::new(code, e.to_string()))
            }
        }
    }

    fn validate(&mut self, blocks: &[ValidationBlock]) -> Vec<(u8, ResultCode)> {
        let mut results = Vec::with_capacity(blocks.len());
        for block in blocks {
            let result = match block {
                ValidationBlock::VerifySpc { spc } => {
                    if *spc == self.spc {
                        self.session.spc_verified = true;
                        ResultCode::Accepted
                    } else {
                        ResultCode::InvalidSpc
                    }
                }
                ValidationBlock::ChangeSpc { spc } => {
                    if self.sp_locked() {
                        ResultCode::MobileStationLocked
                    } else {
                        self.session.pending_spc = Some(spc.clone());
                        ResultCode::Accepted
                    }
                }
                // NAM_LOCK_IND is always 0 in the OTAPA Response, so there
                // is no SPASM challenge to check AUTH_OTAPA against.
                ValidationBlock::ValidateSpasm { .. } => ResultCode::Accepted,
                ValidationBlock::Raw { .. } => ResultCode::BlockIdNotSupported,
            };
            results.push((block.block_id(), result));
        }
        results
    }
}

// ---------------------------------------------------------------------------
// Log wording
// ---------------------------------------------------------------------------

fn nam_block_name(id: u8) -> String {
    match id {
        NAM_BLOCK_CDMA_ANALOG => "CDMA/Analog NAM".into(),
        NAM_BLOCK_MDN => "MDN".into(),
        NAM_BLOCK_CDMA => "CDMA NAM".into(),
        NAM_BLOCK_IMSI_T => "IMSI_T".into(),
        other => format!("block 0x{other:02X}"),
    }
}

fn validation_block_name(id: u8) -> String {
    match id {
        0 => "Verify SPC".into(),
        1 => "Change SPC".into(),
        2 => "Validate SPASM".into(),
        other => format!("block 0x{other:02X}"),
    }
}

fn result_text(code: ResultCode) -> String {
    match code {
        ResultCode::Accepted => "accepted".into(),
        other => {
            let text = other.description();
            format!(
                "rejected ({})",
                text.strip_prefix("Rejected - ").unwrap_or(text)
            )
        }
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn id_results(name: fn(u8) -> String, results: &[(u8, ResultCode)]) -> String {
    list(
        results
            .iter()
            .map(|(id, code)| format!("{} {}", name(*id), result_text(*code))),
    )
}

fn describe_forward(msg: &ForwardMessage) -> String {
    match msg {
        ForwardMessage::ConfigurationRequest { block_ids } => format!(
            "Configuration Request: {}",
            list(block_ids.iter().map(|&id| nam_block_name(id)))
        ),
        ForwardMessage::DownloadRequest { blocks, .. } => format!(
            "Download Request: {}",
            list(blocks.iter().map(|b| nam_block_name(b.block_id())))
        ),
        ForwardMessage::MsKeyRequest { a_key_p_rev, .. } => {
            format!("MS Key Request (A_KEY_P_REV {a_key_p_rev})")
        }
        ForwardMessage::KeyGenerationRequest { .. } => "Key Generation Request".into(),
        ForwardMessage::ReauthenticateRequest { .. } => "Re-Authenticate Request".into(),
        ForwardMessage::CommitRequest => "Commit Request".into(),
        ForwardMessage::ProtocolCapabilityRequest { .. } => "Protocol Capability Request".into(),
        ForwardMessage::SsprConfigurationRequest { request } => match request {
            SsprConfigRequest::PrlDimensions => "SSPR Configuration Request: PRL Dimensions".into(),
            SsprConfigRequest::Prl {
                request_offset,
                request_max_size,
            } => format!(
                "SSPR Configuration Request: PRL from offset {request_offset}, at most {request_max_size} octets"
            ),
            SsprConfigRequest::ExtPrlDimensions => {
                "SSPR Configuration Request: Extended PRL Dimensions".into()
            }
            SsprConfigRequest::Other(id) => {
                format!("SSPR Configuration Request: block 0x{id:02X}")
            }
        },
        ForwardMessage::SsprDownloadRequest { block, .. } => match block {
            SsprBlock::Prl(s) | SsprBlock::ExtendedPrl(s) => format!(
                "SSPR Download Request: {} segment at offset {}, {} octets{}",
                if matches!(block, SsprBlock::Prl(_)) {
                    "PRL"
                } else {
                    "Extended PRL"
                },
                s.segment_offset,
                s.data.len(),
                if s.last_segment { ", last" } else { "" }
            ),
            SsprBlock::Raw { block_id, .. } => {
                format!("SSPR Download Request: block 0x{block_id:02X}")
            }
        },
        ForwardMessage::ValidationRequest { blocks } => format!(
            "Validation Request: {}",
            list(blocks.iter().map(|b| validation_block_name(b.block_id())))
        ),
        ForwardMessage::OtapaRequest { start } => {
            format!("OTAPA Request: {}", if *start { "start" } else { "stop" })
        }
    }
}

fn describe_reverse(msg: &ReverseMessage) -> String {
    match msg {
        ReverseMessage::ConfigurationResponse { blocks, .. } => format!(
            "Configuration Response: {}",
            list(
                blocks
                    .iter()
                    .map(|(b, code)| format!(
                        "{} {}",
                        nam_block_name(b.block_id()),
                        result_text(*code)
                    ))
            )
        ),
        ReverseMessage::DownloadResponse { results } => {
            format!("Download Response: {}", id_results(nam_block_name, results))
        }
        ReverseMessage::MsKeyResponse { result } => {
            format!("MS Key Response: {}", result_text(*result))
        }
        ReverseMessage::KeyGenerationResponse { result, .. } => {
            format!("Key Generation Response: {}", result_text(*result))
        }
        ReverseMessage::ReauthenticateResponse { .. } => "Re-Authenticate Response".into(),
        ReverseMessage::CommitResponse { result } => {
            format!("Commit Response: {}", result_text(*result))
        }
        ReverseMessage::ProtocolCapabilityResponse {
            mob_firm_rev,
            mob_model,
            features,
            ..
        } => format!(
            "Protocol Capability Response: firmware 0x{mob_firm_rev:04X}, model 0x{mob_model:02X}, features {}",
            list(features.iter().map(|(id, rev)| format!("{id}/{rev}")))
        ),
        ReverseMessage::SsprConfigurationResponse { block, result, .. } => {
            let what = match block {
                SsprConfigBlock::PrlDimensions(d) => format!(
                    "PRL Dimensions (PRL {}, {} of {} octets)",
                    d.pr_list_id, d.cur_pr_list_size, d.max_pr_list_size
                ),
                SsprConfigBlock::Prl(s) => format!(
                    "PRL segment at offset {}, {} octets",
                    s.segment_offset,
                    s.data.len()
                ),
                other => format!("block 0x{:02X}", other.block_id()),
            };
            format!("SSPR Configuration Response: {what} {}", result_text(*result))
        }
        ReverseMessage::SsprDownloadResponse {
            result,
            segment_offset,
            segment_size,
            ..
        } => format!(
            "SSPR Download Response: offset {segment_offset}, {segment_size} octets {}",
            result_text(*result)
        ),
        ReverseMessage::ValidationResponse { results } => format!(
            "Validation Response: {}",
            id_results(validation_block_name, results)
        ),
        ReverseMessage::OtapaResponse { result, .. } => {
            format!("OTAPA Response: {}", result_text(*result))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iota::is683::{
        prl_crc, segment_bytes, AcqRecord, CdmaAnalogNam, CdmaNam, Nid, Preference, SysRecord,
    };
    use crate::iota::mmc::StatusItem;

    // --- The worked examples of docs/iota-mmc.md, verbatim ------------------

    use crate::iota::mmc::tests::examples::{
        ALREADY_ACTIVATED, COMMIT, COMMIT_RESPONSE, CONFIGURATION_REQUESTS,
        CONFIGURATION_RESPONSES, ONE_BUTTON_ACCEPT, ONE_BUTTON_DONE, ONE_BUTTON_GET,
        ONE_BUTTON_POLL, OTAPA_DONE, OTAPA_GET, OTAPA_START, OTAPA_START_RESPONSE, OTAPA_STOP,
        OTAPA_STOP_RESPONSE, SSPR_DOWNLOAD, SSPR_DOWNLOAD_RESPONSE,
    };

    /// (server document, the handset's answer) pairs of the OTAPA flow.
    const OTAPA_FLOW: [(&str, &str); 4] = [
        (OTAPA_START, OTAPA_START_RESPONSE),
        (SSPR_DOWNLOAD, SSPR_DOWNLOAD_RESPONSE),
        (COMMIT, COMMIT_RESPONSE),
        (OTAPA_STOP, OTAPA_STOP_RESPONSE),
    ];

    /// The 22-octet PRL of the doc's OTAPA example.
    const DOC_PRL: [u8; 22] = [
        0x00, 0x16, 0x27, 0x24, 0x00, 0x80, 0x80, 0x02, 0x2F, 0x53, 0xC8, 0x2B, 0x94, 0x00, 0x02,
        0x41, 0x60, 0xE0, 0x10, 0x10, 0x52, 0xC3,
    ];

    // --- Helpers ------------------------------------------------------------

    fn xml(text: &str) -> MmcDocument {
        MmcDocument::decode(text.as_bytes()).expect("example decodes")
    }

    /// Sends a document across HTTP: encoded to text and decoded again, as
    /// the HTTP loop will, so every document in these tests is valid MMC.
    fn wire(doc: &MmcDocument) -> MmcDocument {
        let text = doc.encode().expect("document encodes");
        MmcDocument::decode(text.as_bytes()).expect("document decodes")
    }

    /// The MEID handset of the doc's one-button example, which also
    /// advertises Key Exchange as the doc's Protocol Capability Response
    /// does.
    fn doc_identity() -> HandsetIdentity {
        let mut id = HandsetIdentity::new(
            "8043B03F",
            Some("A1000012345678"),
            "Acme",
            "A-1000",
            0x0102,
            0x2A,
        );
        id.features = vec![(0, 2), (1, 2), (2, 1), (3, 1), (4, 1)];
        id
    }

    /// The default NAM of the doc's Configuration Response.
    fn doc_nam() -> NamStore {
        NamStore {
            imsi_m: StoredImsi {
                class: 0,
                addr_num: 0,
                mcc: "310".into(),
                imsi_11_12: "00".into(),
                min: "0000001234".into(),
            },
            firstchp: 333,
            home_sid: 4183,
            ex: true,
            access: AccessFlags {
                accolc: 4,
                local_control: false,
                mob_term_home: true,
                mob_term_for_sid: true,
                mob_term_for_nid: true,
            },
            sid_nid: vec![SidNid {
                sid: 4183,
                nid: 65535,
            }],
            mdn: Some("0000001234".into()),
            ..NamStore::default()
        }
    }

    /// The doc's PRL as a value of the PRL codec.
    fn doc_prl() -> Prl {
        let preferred = Preference::Preferred {
            pri: true,
            roam_ind: 1,
        };
        Prl {
            pr_list_id: 10020,
            pref_only: false,
            def_roam_ind: 1,
            acq_records: vec![
                AcqRecord::CellularCdmaStandard { a_b: 3, pri_sec: 3 },
                AcqRecord::PcsCdmaBlocks { blocks: vec![7] },
            ],
            sys_records: vec![
                SysRecord {
                    sid: 4183,
                    nid: Nid::Wildcard,
                    preference: preferred,
                    geo: false,
                    acq_index: 0,
                },
                SysRecord {
                    sid: 4184,
                    nid: Nid::Wildcard,
                    preference: preferred,
                    geo: true,
                    acq_index: 1,
                },
            ],
        }
    }

    fn handset(fault: IotaFault) -> IotaHandset {
        IotaHandset::new(doc_identity(), fault)
    }

    /// The NAM an OTAF downloads in these tests.
    fn new_nam() -> CdmaAnalogNam {
        CdmaAnalogNam {
            firstchp: 334,
            home_sid: 4139,
            ex: true,
            imsi_m: Imsi::from_digits("310", "00", "4255550123").unwrap(),
            access: AccessFlags {
                accolc: 3,
                local_control: false,
                mob_term_home: true,
                mob_term_for_sid: false,
                mob_term_for_nid: true,
            },
            sid_nid: vec![
                SidNid {
                    sid: 4139,
                    nid: 65535,
                },
                SidNid { sid: 4140, nid: 1 },
            ],
        }
    }

    fn download_nam_and_mdn() -> ForwardMessage {
        ForwardMessage::DownloadRequest {
            blocks: vec![
                NamBlock::CdmaAnalog(new_nam()),
                NamBlock::Mdn(Mdn::new("4255550123")),
            ],
            fresh: Fresh::Absent,
        }
    }

    fn sspr(segment: PrlSegment) -> ForwardMessage {
        ForwardMessage::SsprDownloadRequest {
            block: SsprBlock::Prl(segment),
            fresh: Fresh::Absent,
        }
    }

    /// A minimal OTAF: numbers its forward messages 1, 2, 3, ... across
    /// the session, as the doc requires.
    struct Otaf {
        session: String,
        seq: u32,
    }

    impl Otaf {
        fn new(session: &str) -> Self {
            Self {
                session: session.into(),
                seq: 0,
            }
        }

        fn doc(&self) -> MmcDocument {
            MmcDocument {
                session: Some(self.session.clone()),
                ..MmcDocument::default()
            }
        }

        fn accept(&self) -> MmcDocument {
            let mut doc = self.doc();
            doc.controls.push(ControlItem {
                action: Control::Start,
                reason: None,
            });
            doc
        }

        fn send(&mut self, messages: &[ForwardMessage]) -> MmcDocument {
            let mut doc = self.doc();
            for m in messages {
                self.seq += 1;
                doc.messages.push(Is683Payload {
                    link: Link::Forward,
                    seq: self.seq,
                    bytes: m.encode().unwrap(),
                });
            }
            doc
        }

        fn terminate(&self, reason: Option<&str>, reboot: bool) -> MmcDocument {
            let mut doc = self.doc();
            doc.controls.push(ControlItem {
                action: Control::Terminate,
                reason: reason.map(str::to_string),
            });
            if reboot {
                doc.controls.push(ControlItem {
                    action: Control::Reboot,
                    reason: None,
                });
            }
            doc
        }
    }

    /// Hands a server document to the handset and decodes its POST with
    /// the reverse-link codec, checking the session echo on the way.
    fn exchange(h: &mut IotaHandset, doc: &MmcDocument) -> Vec<(u32, ReverseMessage)> {
        match h.handle(&wire(doc)) {
            Step::Post(post) => {
                let post = wire(&post);
                assert_eq!(post.session, doc.session, "session id echoed");
                assert!(post.device.is_none() && post.controls.is_empty());
                assert!(post.status.is_none());
                post.messages
                    .iter()
                    .map(|m| {
                        assert_eq!(m.link, Link::Reverse);
                        (m.seq, ReverseMessage::decode(&m.bytes).unwrap())
                    })
                    .collect()
            }
            other => panic!("expected a POST, got {other:?}\nlog: {:#?}", h.log()),
        }
    }

    /// Sends one forward message and returns the single answer.
    fn ask(h: &mut IotaHandset, otaf: &mut Otaf, msg: ForwardMessage) -> ReverseMessage {
        let doc = otaf.send(&[msg]);
        let mut answers = exchange(h, &doc);
        assert_eq!(answers.len(), 1);
        let (seq, answer) = answers.remove(0);
        assert_eq!(seq, otaf.seq);
        answer
    }

    fn start(h: &mut IotaHandset, otaf: &Otaf) {
        assert!(exchange(h, &otaf.accept()).is_empty());
    }

    fn download_results(answer: ReverseMessage) -> Vec<(u8, ResultCode)> {
        match answer {
            ReverseMessage::DownloadResponse { results } => results,
            other => panic!("not a Download Response: {other:?}"),
        }
    }

    fn sspr_result(answer: &ReverseMessage) -> ResultCode {
        match answer {
            ReverseMessage::SsprDownloadResponse { result, .. } => *result,
            other => panic!("not an SSPR Download Response: {other:?}"),
        }
    }

    fn commit(h: &mut IotaHandset, otaf: &mut Otaf) -> ResultCode {
        match ask(h, otaf, ForwardMessage::CommitRequest) {
            ReverseMessage::CommitResponse { result } => result,
            other => panic!("not a Commit Response: {other:?}"),
        }
    }

    /// Downloads the PRL in segments of at most `max` octets; returns the
    /// result code of each segment.
    fn download_prl(
        h: &mut IotaHandset,
        otaf: &mut Otaf,
        bytes: &[u8],
        max: u8,
    ) -> Vec<ResultCode> {
        segment_bytes(bytes, max)
            .unwrap()
            .into_iter()
            .map(|s| sspr_result(&ask(h, otaf, sspr(s))))
            .collect()
    }

    // --- The doc's examples -------------------------------------------------

    #[test]
    fn doc_prl_value_encodes_to_the_documented_octets() {
        assert_eq!(doc_prl().encode().unwrap(), DOC_PRL);
    }

    #[test]
    fn doc_one_button_activation_documents() {
        let mut h = handset(IotaFault::None).with_nam(doc_nam()).unwrap();
        assert_eq!(h.start_document().encode().unwrap(), ONE_BUTTON_GET);

        let Step::Post(poll) = h.handle(&xml(ONE_BUTTON_ACCEPT)) else {
            panic!("accept must be answered with a poll");
        };
        assert_eq!(poll.encode().unwrap(), ONE_BUTTON_POLL);

        let Step::Post(answer) = h.handle(&xml(CONFIGURATION_REQUESTS)) else {
            panic!("configuration requests must be answered");
        };
        assert_eq!(answer.encode().unwrap(), CONFIGURATION_RESPONSES);

        assert_eq!(
            h.handle(&xml(ONE_BUTTON_DONE)),
            Step::Finished {
                reboot: true,
                reason: Some("activation complete".into())
            }
        );
        assert!(h.rebooted());
        // Nothing was downloaded: the default NAM is still in force.
        assert_eq!(h.committed_nam(), &doc_nam());
        assert!(h
            .log()
            .contains(&"<- Configuration Request: CDMA/Analog NAM, MDN".to_string()));
    }

    #[test]
    fn doc_configuration_response_octets_from_the_field_table() {
        // Configuration Request 00 02 00 01 against the doc's NAM gives the
        // octets of the doc's table, field by field.
        let mut h = handset(IotaFault::None).with_nam(doc_nam()).unwrap();
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let mut doc = otaf.doc();
        doc.messages.push(Is683Payload {
            link: Link::Forward,
            seq: 1,
            bytes: vec![0x00, 0x02, 0x00, 0x01],
        });
        let Step::Post(post) = h.handle(&doc) else {
            panic!("no answer");
        };
        let mut expected = vec![0x00, 0x02, 0x00, 0x14];
        expected.extend([
            0x29, 0xA4, 0x15, 0xFF, 0x40, 0xC0, 0x68, 0xE3, 0xF9, 0xFE, 0x71, 0x1E, 0xD1, 0xC5,
            0x00, 0x48, 0x2B, 0xFF, 0xFF, 0x80,
        ]);
        expected.extend([0x01, 0x06, 0xAA, 0xAA, 0xAA, 0xA1, 0x23, 0x40, 0x00, 0x00]);
        assert_eq!(post.messages[0].bytes, expected);
        otaf.seq = 1;
        let caps = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::ProtocolCapabilityRequest { request: None },
        );
        assert_eq!(
            caps.encode().unwrap(),
            [
                0x06, 0x01, 0x02, 0x2A, 0x05, 0x00, 0x02, 0x01, 0x02, 0x02, 0x01, 0x03, 0x01, 0x04,
                0x01, 0x00
            ]
        );
    }

    #[test]
    fn doc_otapa_prl_download_documents() {
        let identity = HandsetIdentity::new("9f1abcde", None, "", "", 0x0102, 0x2A);
        let mut h = IotaHandset::new(identity, IotaFault::None);
        assert_eq!(h.start_document().encode().unwrap(), OTAPA_GET);
        for (i, (server, answer)) in OTAPA_FLOW.iter().enumerate() {
            let Step::Post(post) = h.handle(&xml(server)) else {
                panic!("step {i} not answered: {:#?}", h.log());
            };
            assert_eq!(post.encode().unwrap(), *answer, "step {i}");
            match i {
                0 => assert!(h.otapa_active()),
                2 => assert_eq!(h.committed_prl(), Some(&DOC_PRL[..])),
                3 => assert!(!h.otapa_active()),
                _ => {}
            }
        }
        assert_eq!(
            h.handle(&xml(OTAPA_DONE)),
            Step::Finished {
                reboot: false,
                reason: Some("PRL 10020 committed".into())
            }
        );
        assert!(!h.rebooted());
        assert_eq!(h.committed_prl(), Some(&DOC_PRL[..]));
        assert_eq!(h.committed_prl_list(), Some(&doc_prl()));
        // A PRL alone does not activate the handset.
        assert!(!h.committed_nam().activated);
    }

    #[test]
    fn doc_refusal_before_a_session_exists() {
        let mut h = handset(IotaFault::None);
        assert_eq!(
            h.handle(&xml(ALREADY_ACTIVATED)),
            Step::Refused {
                code: 403,
                text: "handset already activated".into()
            }
        );
        assert!(!h.rebooted());
    }

    // --- Full exchanges ------------------------------------------------------

    #[test]
    fn one_button_activation_commits_what_was_sent() {
        let mut h = handset(IotaFault::None);
        let first = wire(&h.start_document());
        assert_eq!(first.session, None);
        assert!(first.has_control(Control::Start));
        let mut otaf = Otaf::new("one-button-1");
        start(&mut h, &otaf);

        // Configuration + Protocol Capability: the factory NAM.
        let answers = exchange(
            &mut h,
            &otaf.send(&[
                ForwardMessage::ConfigurationRequest {
                    block_ids: vec![NAM_BLOCK_CDMA_ANALOG, NAM_BLOCK_MDN],
                },
                ForwardMessage::ProtocolCapabilityRequest { request: None },
            ]),
        );
        assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), [1, 2]);
        let ReverseMessage::ConfigurationResponse { blocks, .. } = &answers[0].1 else {
            panic!("not a Configuration Response");
        };
        let NamConfigBlock::CdmaAnalog(cfg) = &blocks[0].0 else {
            panic!("not the CDMA/Analog NAM");
        };
        assert_eq!(decode_min(cfg.imsi_m.imsi_s).unwrap(), "0000000000");
        assert_eq!(cfg.scm, 0xFA);
        assert_eq!(cfg.max_sid_nid, 20);
        assert_eq!(blocks[0].1, ResultCode::Accepted);
        assert_eq!(
            blocks[1],
            (NamConfigBlock::Mdn(Mdn::new("")), ResultCode::Accepted)
        );
        assert_eq!(
            answers[1].1,
            ReverseMessage::ProtocolCapabilityResponse {
                mob_firm_rev: 0x0102,
                mob_model: 0x2A,
                features: vec![(0, 2), (1, 2), (2, 1), (3, 1), (4, 1)],
                additional: Vec::new(),
            }
        );

        // Download NAM + MDN.
        let results = download_results(ask(&mut h, &mut otaf, download_nam_and_mdn()));
        assert_eq!(
            results,
            [
                (NAM_BLOCK_CDMA_ANALOG, ResultCode::Accepted),
                (NAM_BLOCK_MDN, ResultCode::Accepted)
            ]
        );

        // SSPR download of a 2-segment PRL.
        let prl = doc_prl();
        let segments = prl.segments(12).unwrap();
        assert_eq!(segments.len(), 2);
        for s in &segments {
            let answer = ask(&mut h, &mut otaf, sspr(s.clone()));
            assert_eq!(
                answer,
                ReverseMessage::SsprDownloadResponse {
                    block_id: 0,
                    result: ResultCode::Accepted,
                    segment_offset: s.segment_offset,
                    segment_size: s.data.len() as u8,
                }
            );
        }
        // Nothing is committed yet.
        assert_eq!(h.committed_nam(), &NamStore::default());
        assert_eq!(h.committed_prl(), None);

        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        assert_eq!(
            h.handle(&wire(&otaf.terminate(Some("activation complete"), true))),
            Step::Finished {
                reboot: true,
                reason: Some("activation complete".into())
            }
        );
        assert!(h.rebooted());

        let nam = h.committed_nam();
        assert!(nam.activated);
        assert_eq!(nam.imsi_m.min, "4255550123");
        assert_eq!(nam.imsi_m.mcc, "310");
        assert_eq!(nam.imsi_m.imsi_11_12, "00");
        assert_eq!(nam.imsi_m.digits(), "310004255550123");
        assert_eq!(nam.firstchp, 334);
        assert_eq!(nam.home_sid, 4139);
        assert_eq!(nam.access, new_nam().access);
        assert_eq!(nam.sid_nid, new_nam().sid_nid);
        assert_eq!(nam.mdn.as_deref(), Some("4255550123"));
        assert_eq!(h.committed_prl(), Some(prl.encode().unwrap().as_slice()));
        assert_eq!(h.committed_prl_list(), Some(&prl));

        let log = h.log();
        assert!(log.contains(&"<- Download Request: CDMA/Analog NAM, MDN".to_string()));
        assert!(log
            .contains(&"-> Download Response: CDMA/Analog NAM accepted, MDN accepted".to_string()));
        assert!(log.contains(&"x committed NAM, PRL".to_string()));
    }

    #[test]
    fn next_session_reads_back_the_committed_nam() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("first");
        start(&mut h, &otaf);
        ask(&mut h, &mut otaf, download_nam_and_mdn());
        commit(&mut h, &mut otaf);
        h.handle(&otaf.terminate(None, true));

        // After the reboot a new session with a new id.
        let mut otaf = Otaf::new("second");
        start(&mut h, &otaf);
        let answer = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::ConfigurationRequest {
                block_ids: vec![NAM_BLOCK_CDMA_ANALOG, NAM_BLOCK_MDN],
            },
        );
        let ReverseMessage::ConfigurationResponse { blocks, .. } = answer else {
            panic!("not a Configuration Response");
        };
        let NamConfigBlock::CdmaAnalog(cfg) = &blocks[0].0 else {
            panic!("not the CDMA/Analog NAM");
        };
        let sent = new_nam();
        assert_eq!(
            (cfg.firstchp, cfg.home_sid, cfg.ex, cfg.imsi_m, cfg.access),
            (
                sent.firstchp,
                sent.home_sid,
                sent.ex,
                sent.imsi_m,
                sent.access
            )
        );
        assert_eq!(cfg.sid_nid, sent.sid_nid);
        assert_eq!(blocks[1].0, NamConfigBlock::Mdn(Mdn::new("4255550123")));
    }

    #[test]
    fn configuration_reports_committed_not_pending_nam() {
        let mut h = handset(IotaFault::None).with_nam(doc_nam()).unwrap();
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        ask(&mut h, &mut otaf, download_nam_and_mdn());
        let answer = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::ConfigurationRequest {
                block_ids: vec![NAM_BLOCK_MDN],
            },
        );
        let ReverseMessage::ConfigurationResponse { blocks, .. } = answer else {
            panic!("not a Configuration Response");
        };
        assert_eq!(blocks[0].0, NamConfigBlock::Mdn(Mdn::new("0000001234")));
    }

    #[test]
    fn terminate_without_commit_leaves_committed_storage_unchanged() {
        let mut h = handset(IotaFault::None)
            .with_nam(doc_nam())
            .unwrap()
            .with_prl(&DOC_PRL)
            .unwrap();
        let mut otaf = Otaf::new("no-commit");
        start(&mut h, &otaf);
        ask(&mut h, &mut otaf, download_nam_and_mdn());
        let mut other = doc_prl();
        other.pr_list_id = 20001;
        let results = download_prl(&mut h, &mut otaf, &other.encode().unwrap(), 16);
        assert!(results.iter().all(|r| *r == ResultCode::Accepted));
        assert_eq!(
            h.handle(&otaf.terminate(Some("operator cancelled"), false)),
            Step::Finished {
                reboot: false,
                reason: Some("operator cancelled".into())
            }
        );
        assert_eq!(h.committed_nam(), &doc_nam());
        assert_eq!(h.committed_prl(), Some(&DOC_PRL[..]));
        assert!(h
            .log()
            .contains(&"x uncommitted downloads discarded".to_string()));

        // The pending state is gone: a commit in the next session stores nothing.
        let mut otaf = Otaf::new("later");
        start(&mut h, &otaf);
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        assert_eq!(h.committed_nam(), &doc_nam());
        assert_eq!(h.log().last().unwrap(), "-> Commit Response: accepted");
    }

    #[test]
    fn cdma_nam_and_imsi_t_blocks_are_stored_and_reported() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let imsi_t = Imsi::from_digits("310", "12", "5551234567").unwrap();
        let cdma = CdmaNam {
            imsi_m: Imsi::from_digits("311", "48", "2065550100").unwrap(),
            access: AccessFlags {
                accolc: 0,
                local_control: true,
                mob_term_home: true,
                mob_term_for_sid: true,
                mob_term_for_nid: false,
            },
            sid_nid: vec![SidNid { sid: 22, nid: 0 }],
        };
        let results = download_results(ask(
            &mut h,
            &mut otaf,
            ForwardMessage::DownloadRequest {
                blocks: vec![
                    NamBlock::Cdma(cdma.clone()),
                    NamBlock::ImsiT(ImsiT { imsi_t }),
                    NamBlock::Raw {
                        block_id: 0x09,
                        data: vec![1, 2],
                    },
                ],
                fresh: Fresh::Absent,
            },
        ));
        assert_eq!(
            results,
            [
                (NAM_BLOCK_CDMA, ResultCode::Accepted),
                (NAM_BLOCK_IMSI_T, ResultCode::Accepted),
                (0x09, ResultCode::BlockIdNotSupported)
            ]
        );
        commit(&mut h, &mut otaf);
        assert_eq!(h.committed_nam().imsi_m.digits(), "311482065550100");
        assert_eq!(h.committed_nam().imsi_t.digits(), "310125551234567");
        assert_eq!(h.committed_nam().sid_nid, cdma.sid_nid);

        let answer = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::ConfigurationRequest {
                block_ids: vec![NAM_BLOCK_CDMA, NAM_BLOCK_IMSI_T, 0x07],
            },
        );
        let ReverseMessage::ConfigurationResponse { blocks, .. } = answer else {
            panic!("not a Configuration Response");
        };
        let NamConfigBlock::Cdma(cfg) = &blocks[0].0 else {
            panic!("not the CDMA NAM");
        };
        assert!(cfg.slotted_mode);
        assert_eq!((cfg.imsi_m, cfg.access), (cdma.imsi_m, cdma.access));
        assert_eq!(
            blocks[1],
            (
                NamConfigBlock::ImsiT(ImsiT { imsi_t }),
                ResultCode::Accepted
            )
        );
        // Unknown block: empty data, BLOCK_ID not supported.
        assert_eq!(
            blocks[2],
            (
                NamConfigBlock::Raw {
                    block_id: 0x07,
                    data: Vec::new()
                },
                ResultCode::BlockIdNotSupported
            )
        );
    }

    #[test]
    fn too_many_sid_nid_pairs_are_refused() {
        let mut identity = doc_identity();
        identity.max_sid_nid = 1;
        let mut h = IotaHandset::new(identity, IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let results = download_results(ask(&mut h, &mut otaf, download_nam_and_mdn()));
        assert_eq!(
            results,
            [
                (NAM_BLOCK_CDMA_ANALOG, ResultCode::SidNidLengthMismatch),
                (NAM_BLOCK_MDN, ResultCode::Accepted)
            ]
        );
    }

    #[test]
    fn undecodable_imsi_digits_are_an_invalid_parameter() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let mut nam = new_nam();
        nam.imsi_m.mcc = 1000; // above 999: no three-digit MCC encodes to it
        let results = download_results(ask(
            &mut h,
            &mut otaf,
            ForwardMessage::DownloadRequest {
                blocks: vec![NamBlock::CdmaAnalog(nam)],
                fresh: Fresh::Absent,
            },
        ));
        assert_eq!(
            results,
            [(NAM_BLOCK_CDMA_ANALOG, ResultCode::InvalidParameter)]
        );
        commit(&mut h, &mut otaf);
        assert!(!h.committed_nam().activated);
    }

    // --- Faults --------------------------------------------------------------

    #[test]
    fn fault_drop_call_after_n_documents() {
        let mut h = handset(IotaFault::DropCall { after_requests: 2 });
        let mut otaf = Otaf::new("drop-1");
        start(&mut h, &otaf); // document 1
        ask(&mut h, &mut otaf, download_nam_and_mdn()); // document 2
        let commit_doc = otaf.send(&[ForwardMessage::CommitRequest]);
        assert_eq!(h.handle(&commit_doc), Step::Dropped); // document 3
        assert_eq!(h.committed_nam(), &NamStore::default());
        assert!(h.log().iter().any(|l| l.starts_with("x data call dropped")));

        // The handset dials again with the fault cleared: a new session.
        h.set_fault(IotaFault::None);
        let mut otaf = Otaf::new("drop-2");
        start(&mut h, &otaf);
        ask(&mut h, &mut otaf, download_nam_and_mdn());
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        assert!(h.committed_nam().activated);
    }

    #[test]
    fn fault_drop_call_applies_to_every_session() {
        let mut h = handset(IotaFault::DropCall { after_requests: 0 });
        assert_eq!(h.handle(&Otaf::new("a").accept()), Step::Dropped);
        assert_eq!(h.handle(&Otaf::new("b").accept()), Step::Dropped);
    }

    #[test]
    fn fault_reject_block_refuses_the_first_block_only() {
        let mut h = handset(IotaFault::RejectBlock);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let results = download_results(ask(&mut h, &mut otaf, download_nam_and_mdn()));
        assert_eq!(
            results,
            [
                (NAM_BLOCK_CDMA_ANALOG, ResultCode::InvalidParameter),
                (NAM_BLOCK_MDN, ResultCode::Accepted)
            ]
        );
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        let nam = h.committed_nam();
        assert_eq!(nam.mdn.as_deref(), Some("4255550123"));
        assert_eq!(nam.imsi_m, StoredImsi::unprogrammed());
        assert_eq!(nam.home_sid, 0);
    }

    #[test]
    fn fault_bad_prl_crc_rejects_the_last_segment() {
        let mut h = handset(IotaFault::BadPrlCrc);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let results = download_prl(&mut h, &mut otaf, &DOC_PRL, 12);
        assert_eq!(results, [ResultCode::Accepted, ResultCode::CrcError]);
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        assert_eq!(h.committed_prl(), None);
    }

    // --- PRL reception -------------------------------------------------------

    #[test]
    fn corrupted_prl_fails_its_crc_and_is_discarded() {
        let mut corrupted = DOC_PRL;
        corrupted[5] ^= 0x01;
        let stored = u16::from_be_bytes([corrupted[20], corrupted[21]]);
        assert_ne!(prl_crc(&corrupted[..20]), stored);

        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let results = download_prl(&mut h, &mut otaf, &corrupted, 12);
        assert_eq!(results, [ResultCode::Accepted, ResultCode::CrcError]);
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        assert_eq!(h.committed_prl(), None);
        assert!(h
            .log()
            .iter()
            .any(|l| l.starts_with("x PRL segment refused: PRL CRC mismatch")));
    }

    #[test]
    fn segment_at_the_wrong_offset_is_a_length_mismatch() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let segments = doc_prl().segments(12).unwrap();
        // The second segment first: 12 octets expected from offset 0.
        let answer = ask(&mut h, &mut otaf, sspr(segments[1].clone()));
        assert_eq!(
            answer,
            ReverseMessage::SsprDownloadResponse {
                block_id: 0,
                result: ResultCode::PrlLengthMismatch,
                segment_offset: 12,
                segment_size: 10,
            }
        );
        // In order they are fine.
        for s in segments {
            assert_eq!(
                sspr_result(&ask(&mut h, &mut otaf, sspr(s))),
                ResultCode::Accepted
            );
        }
        commit(&mut h, &mut otaf);
        assert_eq!(h.committed_prl(), Some(&DOC_PRL[..]));
    }

    #[test]
    fn prl_larger_than_the_handset_memory_is_refused() {
        let mut identity = doc_identity();
        identity.max_prl_size = 16;
        let mut h = IotaHandset::new(identity, IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let results = download_prl(&mut h, &mut otaf, &DOC_PRL, 12);
        assert_eq!(results[0], ResultCode::PrlLengthMismatch);
    }

    #[test]
    fn extended_prl_and_unknown_sspr_blocks_are_not_supported() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let segment = PrlSegment {
            last_segment: true,
            segment_offset: 0,
            data: vec![1, 2, 3],
        };
        let answer = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::SsprDownloadRequest {
                block: SsprBlock::ExtendedPrl(segment),
                fresh: Fresh::Absent,
            },
        );
        assert_eq!(
            answer,
            ReverseMessage::SsprDownloadResponse {
                block_id: 1,
                result: ResultCode::BlockIdNotSupported,
                segment_offset: 0,
                segment_size: 3,
            }
        );
        let answer = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::SsprConfigurationRequest {
                request: SsprConfigRequest::ExtPrlDimensions,
            },
        );
        assert_eq!(
            answer,
            ReverseMessage::SsprConfigurationResponse {
                block: SsprConfigBlock::Raw {
                    block_id: SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS,
                    data: Vec::new()
                },
                result: ResultCode::BlockIdNotSupported,
                fresh: Fresh::Absent,
            }
        );
    }

    #[test]
    fn sspr_configuration_reports_the_committed_prl() {
        let dims = |h: &mut IotaHandset, otaf: &mut Otaf| match ask(
            h,
            otaf,
            ForwardMessage::SsprConfigurationRequest {
                request: SsprConfigRequest::PrlDimensions,
            },
        ) {
            ReverseMessage::SsprConfigurationResponse {
                block: SsprConfigBlock::PrlDimensions(d),
                result: ResultCode::Accepted,
                ..
            } => d,
            other => panic!("unexpected {other:?}"),
        };
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        assert_eq!(
            dims(&mut h, &mut otaf),
            PrlDimensions {
                max_pr_list_size: 8192,
                ..PrlDimensions::default()
            }
        );
        download_prl(&mut h, &mut otaf, &DOC_PRL, 251);
        commit(&mut h, &mut otaf);
        assert_eq!(
            dims(&mut h, &mut otaf),
            PrlDimensions {
                max_pr_list_size: 8192,
                cur_pr_list_size: 22,
                pr_list_id: 10020,
                num_acq_recs: 2,
                num_sys_recs: 2,
            }
        );
        assert_eq!(dims(&mut h, &mut otaf), doc_prl().dimensions(8192).unwrap());

        // Reading the list back in 16-octet segments.
        let mut read = Vec::new();
        for offset in [0u16, 16] {
            let answer = ask(
                &mut h,
                &mut otaf,
                ForwardMessage::SsprConfigurationRequest {
                    request: SsprConfigRequest::Prl {
                        request_offset: offset,
                        request_max_size: 16,
                    },
                },
            );
            let ReverseMessage::SsprConfigurationResponse {
                block: SsprConfigBlock::Prl(segment),
                result: ResultCode::Accepted,
                ..
            } = answer
            else {
                panic!("unexpected {answer:?}");
            };
            assert_eq!(segment.last_segment, offset == 16);
            read.push(segment);
        }
        assert_eq!(Prl::from_segments(&read).unwrap(), doc_prl());
    }

    // --- Session and protocol errors ------------------------------------------

    #[test]
    fn wrong_session_id_is_a_protocol_error() {
        let mut h = handset(IotaFault::None);
        let otaf = Otaf::new("right");
        start(&mut h, &otaf);
        let mut wrong = Otaf::new("wrong");
        let step = h.handle(&wrong.send(&[ForwardMessage::CommitRequest]));
        let Step::ProtocolError(why) = step else {
            panic!("expected a protocol error, got {step:?}");
        };
        assert!(
            why.contains("\"wrong\"") && why.contains("\"right\""),
            "{why}"
        );
        // The handset can still tell the server it gives up.
        let abandon = wire(&h.abandon_document("wrong session"));
        assert_eq!(abandon.session.as_deref(), Some("right"));
        assert!(abandon.has_control(Control::Terminate));
    }

    #[test]
    fn missing_session_id_is_a_protocol_error() {
        let mut h = handset(IotaFault::None);
        // Before any session: a document with messages but no id.
        let mut no_id = Otaf::new("x").send(&[ForwardMessage::CommitRequest]);
        no_id.session = None;
        assert!(matches!(h.handle(&no_id), Step::ProtocolError(_)));

        // After the id was assigned: a later document lacking it.
        let mut h = handset(IotaFault::None);
        let otaf = Otaf::new("assigned");
        start(&mut h, &otaf);
        let step = h.handle(&MmcDocument::default());
        assert!(
            matches!(step, Step::ProtocolError(ref why) if why.contains("without the session id"))
        );
    }

    #[test]
    fn answers_echo_seq_in_document_order() {
        let mut h = handset(IotaFault::None);
        let otaf = Otaf::new("seq");
        start(&mut h, &otaf);
        let mut doc = otaf.doc();
        for (seq, msg) in [
            (7, ForwardMessage::OtapaRequest { start: true }),
            (
                3,
                ForwardMessage::ProtocolCapabilityRequest { request: None },
            ),
            (42, ForwardMessage::CommitRequest),
        ] {
            doc.messages.push(Is683Payload {
                link: Link::Forward,
                seq,
                bytes: msg.encode().unwrap(),
            });
        }
        let answers = exchange(&mut h, &doc);
        let seqs: Vec<u32> = answers.iter().map(|a| a.0).collect();
        assert_eq!(seqs, [7, 3, 42]);
        assert_eq!(
            answers[0].1,
            ReverseMessage::OtapaResponse {
                result: ResultCode::Accepted,
                rand_otapa: None
            }
        );
        assert!(matches!(
            answers[1].1,
            ReverseMessage::ProtocolCapabilityResponse { .. }
        ));
        assert_eq!(
            answers[2].1,
            ReverseMessage::CommitResponse {
                result: ResultCode::Accepted
            }
        );
    }

    #[test]
    fn reverse_link_message_from_the_server_is_refused() {
        let mut h = handset(IotaFault::None);
        let otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let mut doc = otaf.doc();
        doc.messages.push(Is683Payload {
            link: Link::Reverse,
            seq: 1,
            bytes: vec![0x05, 0x00],
        });
        let step = h.handle(&doc);
        assert!(matches!(step, Step::ProtocolError(ref why) if why.contains("reverse link")));
    }

    #[test]
    fn undecodable_is683_is_a_protocol_error_with_the_codec_text() {
        for (bytes, text) in [
            (vec![0x0B], "unknown forward link OTASP message type 0x0B"),
            (vec![0x00, 0x02, 0x00], "truncated input"),
            (vec![0x05, 0x00], "unexpected octet(s) after the end"),
        ] {
            let mut h = handset(IotaFault::None);
            let otaf = Otaf::new("s");
            start(&mut h, &otaf);
            let mut doc = otaf.doc();
            doc.messages.push(Is683Payload {
                link: Link::Forward,
                seq: 1,
                bytes,
            });
            match h.handle(&doc) {
                Step::ProtocolError(why) => assert!(why.contains(text), "{why}"),
                other => panic!("expected a protocol error, got {other:?}"),
            }
        }
    }

    #[test]
    fn poll_is_answered_with_an_empty_document() {
        let mut h = handset(IotaFault::None);
        let otaf = Otaf::new("poll");
        start(&mut h, &otaf);
        assert_eq!(
            h.handle(&otaf.doc()),
            Step::Post(Box::new(MmcDocument {
                session: Some("poll".into()),
                ..MmcDocument::default()
            }))
        );
    }

    #[test]
    fn refusal_inside_a_session_and_reboot_without_terminate() {
        let mut h = handset(IotaFault::None);
        let otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let mut refusal = otaf.terminate(None, false);
        refusal.status = Some(StatusItem {
            code: 500,
            text: "OTAF unavailable".into(),
        });
        assert_eq!(
            h.handle(&wire(&refusal)),
            Step::Refused {
                code: 500,
                text: "OTAF unavailable".into()
            }
        );

        let mut h = handset(IotaFault::None);
        start(&mut h, &otaf);
        let mut reboot = otaf.doc();
        reboot.controls.push(ControlItem {
            action: Control::Reboot,
            reason: None,
        });
        assert!(matches!(h.handle(&reboot), Step::ProtocolError(_)));
        assert!(!h.rebooted());
    }

    #[test]
    fn messages_without_a_usable_answer() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        assert_eq!(
            ask(
                &mut h,
                &mut otaf,
                ForwardMessage::MsKeyRequest {
                    a_key_p_rev: 3,
                    param_p: Vec::new(),
                    param_g: Vec::new()
                }
            ),
            ReverseMessage::MsKeyResponse {
                result: ResultCode::MessageNotExpected
            }
        );
        assert_eq!(
            ask(
                &mut h,
                &mut otaf,
                ForwardMessage::KeyGenerationRequest {
                    bs_result: vec![1, 2, 3]
                }
            ),
            ReverseMessage::KeyGenerationResponse {
                result: ResultCode::MessageNotExpected,
                ms_result: Vec::new()
            }
        );
        // Re-Authenticate has no RESULT_CODE to refuse with.
        let doc = otaf.send(&[ForwardMessage::ReauthenticateRequest { rand: 0x1234_5678 }]);
        assert!(matches!(h.handle(&doc), Step::ProtocolError(ref why) if why.contains("CAVE")));
    }

    // --- Service programming lock and OTAPA ----------------------------------------

    #[test]
    fn validation_checks_the_spc() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        let answer = ask(
            &mut h,
            &mut otaf,
            ForwardMessage::ValidationRequest {
                blocks: vec![
                    ValidationBlock::VerifySpc {
                        spc: "000000".into(),
                    },
                    ValidationBlock::VerifySpc {
                        spc: "123456".into(),
                    },
                    ValidationBlock::ChangeSpc {
                        spc: "271828".into(),
                    },
                    ValidationBlock::ValidateSpasm {
                        auth_otapa: None,
                        nam_lock: false,
                    },
                ],
            },
        );
        assert_eq!(
            answer,
            ReverseMessage::ValidationResponse {
                results: vec![
                    (0, ResultCode::Accepted),
                    (0, ResultCode::InvalidSpc),
                    (1, ResultCode::Accepted),
                    (2, ResultCode::Accepted),
                ]
            }
        );
        assert_eq!(h.spc(), "000000");
        commit(&mut h, &mut otaf);
        assert_eq!(h.spc(), "271828");
    }

    #[test]
    fn a_non_default_spc_locks_programming_until_verified() {
        let mut identity = doc_identity();
        identity.spc = "314159".into();
        let mut h = IotaHandset::new(identity, IotaFault::None);
        let mut otaf = Otaf::new("locked");
        start(&mut h, &otaf);
        let results = download_results(ask(&mut h, &mut otaf, download_nam_and_mdn()));
        assert_eq!(
            results,
            [
                (NAM_BLOCK_CDMA_ANALOG, ResultCode::MobileStationLocked),
                (NAM_BLOCK_MDN, ResultCode::MobileStationLocked)
            ]
        );
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::MobileStationLocked);
        ask(
            &mut h,
            &mut otaf,
            ForwardMessage::ValidationRequest {
                blocks: vec![ValidationBlock::VerifySpc {
                    spc: "314159".into(),
                }],
            },
        );
        let results = download_results(ask(&mut h, &mut otaf, download_nam_and_mdn()));
        assert!(results.iter().all(|r| r.1 == ResultCode::Accepted));
        assert_eq!(commit(&mut h, &mut otaf), ResultCode::Accepted);
        assert!(h.committed_nam().activated);
    }

    #[test]
    fn otapa_start_and_stop_are_tracked() {
        let mut h = handset(IotaFault::None);
        let mut otaf = Otaf::new("s");
        start(&mut h, &otaf);
        assert!(!h.otapa_active());
        ask(
            &mut h,
            &mut otaf,
            ForwardMessage::OtapaRequest { start: true },
        );
        assert!(h.otapa_active());
        ask(
            &mut h,
            &mut otaf,
            ForwardMessage::OtapaRequest { start: false },
        );
        assert!(!h.otapa_active());
        ask(
            &mut h,
            &mut otaf,
            ForwardMessage::OtapaRequest { start: true },
        );
        h.handle(&otaf.terminate(None, false));
        assert!(!h.otapa_active());
    }

    #[test]
    fn a_nam_that_cannot_be_reported_is_refused_up_front() {
        let mut nam = doc_nam();
        nam.imsi_m.min = "12345".into();
        assert!(handset(IotaFault::None).with_nam(nam).is_err());
        let mut nam = doc_nam();
        nam.mdn = Some("555-0100".into());
        assert!(handset(IotaFault::None).with_nam(nam).is_err());
        assert!(handset(IotaFault::None).with_prl(&DOC_PRL[..21]).is_err());
    }
}
