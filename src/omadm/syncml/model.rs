//! Typed OMA DM 1.2 message, covering what a DM server and client exchange
//! (OMA-TS-DM_RepPro-V1_2 "Protocol elements", OMA-TS-DM_Protocol-V1_2
//! "Packages", and the SyncML 1.2 DTD that DM restricts).
//!
//! The model is independent of the transfer encoding: binary values such as
//! credentials and nonces are held decoded, and the codec decides whether
//! they travel as base64 text or as WBXML OPAQUE (see the private `convert` module).

/// Alert codes used by OMA DM 1.2 (OMA-TS-DM_Protocol-V1_2 "Alert types",
/// OMA-TS-DM_RepPro-V1_2 element type Alert).
pub mod alert_code {
    /// Server-initiated management session (package 1 after a notification).
    pub const SERVER_INITIATED: u16 = 1200;
    /// Client-initiated management session.
    pub const CLIENT_INITIATED: u16 = 1201;
    /// "Next message": the sender expects more messages of the same package.
    pub const NEXT_MESSAGE: u16 = 1222;
    /// Session abort.
    pub const SESSION_ABORT: u16 = 1223;
    /// "No end of data": a large object's chunks stopped before its last one.
    pub const NO_END_OF_DATA: u16 = 1225;
    /// Generic alert (OMA-TS-DM_Protocol-V1_2 "Generic Alert", used by FUMO reports).
    pub const GENERIC_ALERT: u16 = 1226;
}

/// One SyncML message (`<SyncML>`): header plus body (OMA-TS-DM_RepPro-V1_2, element type SyncML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `<SyncHdr>`.
    pub hdr: SyncHdr,
    /// `<SyncBody>`.
    pub body: SyncBody,
}

/// `<SyncHdr>` (OMA-TS-DM_RepPro-V1_2, element type SyncHdr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncHdr {
    /// `<VerDTD>`, "1.2".
    pub ver_dtd: String,
    /// `<VerProto>`, "DM/1.2".
    pub ver_proto: String,
    /// `<SessionID>`; kept as text because clients write it in hex or decimal.
    pub session_id: String,
    /// `<MsgID>`.
    pub msg_id: u32,
    /// `<Target><LocURI>`: the recipient (device id or server URL).
    pub target: String,
    /// `<Source><LocURI>`: the sender.
    pub source: String,
    /// `<Source><LocName>`: the user name a client authenticates with.
    pub source_name: Option<String>,
    /// `<RespURI>`: where the peer has to send its next message.
    pub resp_uri: Option<String>,
    /// `<Cred>`.
    pub cred: Option<Cred>,
    /// `<Meta><MaxMsgSize>`.
    pub max_msg_size: Option<u32>,
    /// `<Meta><MaxObjSize>`.
    pub max_obj_size: Option<u32>,
}

impl SyncHdr {
    /// The SyncHdr status for a header whose versions a DM 1.2 server does
    /// not speak: 505 (DTD version not supported) unless VerDTD is 1.2, else
    /// 513 (protocol version not supported) unless VerProto is DM/1.2
    /// (OMA-TS-DM_RepPro-V1_2 "VerDTD", "VerProto"). `None` for DM 1.2.
    pub fn unsupported_version(&self) -> Option<u16> {
        if self.ver_dtd != "1.2" {
            Some(505)
        } else if self.ver_proto != "DM/1.2" {
            Some(513)
        } else {
            None
        }
    }
}

/// `<Cred>` (OMA-TS-DM_RepPro-V1_2 element type Cred, OMA-TS-DM_Security-V1_2 "Authentication").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    /// `<Meta><Format>`: "b64" (the default) or "bin" (WBXML only).
    pub format: Option<String>,
    /// `<Meta><Type>`: "syncml:auth-md5", "syncml:auth-basic" or "syncml:auth-MAC".
    pub auth_type: String,
    /// `<Data>`, decoded: the MD5 digest bytes, or "user:password" for basic.
    pub data: Vec<u8>,
}

/// `<SyncBody>` (OMA-TS-DM_RepPro-V1_2, element type SyncBody).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncBody {
    /// The commands, in document order.
    pub commands: Vec<Command>,
    /// Whether `<Final/>` closes the body, i.e. this is the package's last message.
    pub final_: bool,
}

/// A command in `<SyncBody>` or in a container (OMA-TS-DM_RepPro-V1_2 "Command elements").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `<Alert>`.
    Alert(Alert),
    /// `<Status>`.
    Status(Status),
    /// `<Results>`.
    Results(Results),
    /// `<Get>`.
    Get(ItemCmd),
    /// `<Replace>`.
    Replace(ItemCmd),
    /// `<Add>`.
    Add(ItemCmd),
    /// `<Delete>`.
    Delete(ItemCmd),
    /// `<Exec>`.
    Exec(ItemCmd),
    /// `<Copy>`.
    Copy(ItemCmd),
    /// `<Sequence>`.
    Sequence(Container),
    /// `<Atomic>`.
    Atomic(Container),
    /// A SyncML command OMA DM does not use (Sync, Map, Put, Search, ...).
    /// Kept so the server can answer it with status 406 "Optional feature
    /// not supported" instead of rejecting the whole message; only the
    /// CmdID survives, so re-encoding writes an empty command.
    Unknown {
        /// Element name, e.g. "Sync".
        name: String,
        /// Its `<CmdID>`.
        cmd_id: u32,
    },
}

impl Command {
    /// Element name of the command, as a `<Status><Cmd>` answering it names it.
    pub fn name(&self) -> &str {
        match self {
            Command::Alert(_) => "Alert",
            Command::Status(_) => "Status",
            Command::Results(_) => "Results",
            Command::Get(_) => "Get",
            Command::Replace(_) => "Replace",
            Command::Add(_) => "Add",
            Command::Delete(_) => "Delete",
            Command::Exec(_) => "Exec",
            Command::Copy(_) => "Copy",
            Command::Sequence(_) => "Sequence",
            Command::Atomic(_) => "Atomic",
            Command::Unknown { name, .. } => name,
        }
    }

    /// `<CmdID>` of the command, which a `<Status><CmdRef>` refers to; 0
    /// when the message's CmdID was not a number (no valid command has 0).
    pub fn cmd_id(&self) -> u32 {
        match self {
            Command::Alert(a) => a.cmd_id,
            Command::Status(s) => s.cmd_id,
            Command::Results(r) => r.cmd_id,
            Command::Get(c)
            | Command::Replace(c)
            | Command::Add(c)
            | Command::Delete(c)
            | Command::Exec(c)
            | Command::Copy(c) => c.cmd_id,
            Command::Sequence(c) | Command::Atomic(c) => c.cmd_id,
            Command::Unknown { cmd_id, .. } => *cmd_id,
        }
    }
}

/// `<Alert>` (OMA-TS-DM_RepPro-V1_2 element type Alert; codes in [`alert_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<Data>`: the alert code.
    pub data: u16,
    /// `<Correlator>`: ties a generic alert to the Exec that started the operation.
    pub correlator: Option<String>,
    /// `<Item>`s (generic alert payload, user interaction texts).
    pub items: Vec<Item>,
}

/// `<Status>` (OMA-TS-DM_RepPro-V1_2 element type Status; codes in its
/// "Response status codes" chapter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<MsgRef>`: MsgID of the message holding the command answered.
    pub msg_ref: u32,
    /// `<CmdRef>`: CmdID of the command answered, 0 for the SyncHdr.
    pub cmd_ref: u32,
    /// `<Cmd>`: name of the command answered ("SyncHdr" for the header).
    pub cmd: String,
    /// Every `<TargetRef>`, in document order. The DTD repeats it
    /// (`TargetRef*`): a Status for a command of several Items names the
    /// Items it applies to, one TargetRef each (SyncML RepPro 1.2,
    /// Status); none means the whole command. A SyncHdr status carries one.
    pub target_refs: Vec<String>,
    /// Every `<SourceRef>`, in document order (`SourceRef*`, as TargetRef).
    pub source_refs: Vec<String>,
    /// `<Chal>`: authentication challenge (with 401/407, or 200/212 to roll the nonce).
    pub chal: Option<Chal>,
    /// `<Data>`: the status code.
    pub data: u16,
    /// `<Item>`s.
    pub items: Vec<Item>,
}

impl Status {
    /// The first `<TargetRef>`: the one a SyncHdr status or a status for a
    /// single Item carries.
    pub fn target_ref(&self) -> Option<&str> {
        self.target_refs.first().map(String::as_str)
    }

    /// The first `<SourceRef>`.
    pub fn source_ref(&self) -> Option<&str> {
        self.source_refs.first().map(String::as_str)
    }
}

/// `<Chal>` (OMA-TS-DM_RepPro-V1_2 element type Chal, OMA-TS-DM_Security-V1_2 "Authentication").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chal {
    /// `<Meta><Type>`: the authentication scheme demanded.
    pub auth_type: String,
    /// `<Meta><Format>`: "b64" or "bin" (how NextNonce travels).
    pub format: String,
    /// `<Meta><NextNonce>`, decoded.
    pub next_nonce: Vec<u8>,
}

/// `<Results>` (OMA-TS-DM_RepPro-V1_2 element type Results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<MsgRef>` (optional in the DTD; 0 means absent, as MsgIDs start at 1).
    pub msg_ref: u32,
    /// `<CmdRef>`: the Get these are results of.
    pub cmd_ref: u32,
    /// `<Item>`s holding the values read.
    pub items: Vec<Item>,
}

/// Body of the item-carrying commands Get, Replace, Add, Delete, Exec and Copy
/// (OMA-TS-DM_RepPro-V1_2 "Command elements").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCmd {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<Correlator>` (Exec only): echoed in the generic alert reporting the result.
    pub correlator: Option<String>,
    /// Command-level `<Meta>`, inherited by items without their own.
    pub meta: Option<Meta>,
    /// `<Item>`s.
    pub items: Vec<Item>,
}

/// `<Item>` (OMA-TS-DM_RepPro-V1_2 element type Item).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// `<Target><LocURI>`: management tree URI written or read.
    pub target: Option<String>,
    /// `<Source><LocURI>`: URI the data comes from (Results, Alert, Replace from client).
    pub source: Option<String>,
    /// `<Meta>`.
    pub meta: Option<Meta>,
    /// `<Data>`.
    pub data: Option<ItemData>,
    /// `<MoreData/>`: the data is one chunk of a large object whose next
    /// chunk comes in the next message (OMA-TS-DM_Protocol-V1_2 "Large
    /// object handling").
    pub more_data: bool,
}

/// Content of an item's `<Data>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemData {
    /// Character data (node values, URLs, result codes).
    Text(String),
    /// Bytes: WBXML OPAQUE, or base64 text when Meta Format is "b64".
    Binary(Vec<u8>),
}

/// `<Meta>` with the MetInf elements DM uses (OMA-TS-SyncML_MetaInfo-V1_2, namespace `syncml:metinf`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// `<Format>`: "chr" (default), "int", "bool", "b64", "bin", "node", ...
    pub format: Option<String>,
    /// `<Type>`: MIME type or, in generic alerts, the alert type URN.
    pub r#type: Option<String>,
    /// `<Size>`.
    pub size: Option<u64>,
    /// `<Mark>`: generic alert severity ("critical", "major", ...).
    pub mark: Option<String>,
}

/// `<Sequence>` or `<Atomic>` (OMA-TS-DM_RepPro-V1_2 element types Sequence and Atomic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// The nested commands.
    pub commands: Vec<Command>,
}
