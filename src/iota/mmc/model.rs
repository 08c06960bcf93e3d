//! The in-memory form of an MMC document. Plain data: every rule about
//! what a valid document looks like lives in `rules.rs`, shared by the
//! encoder and the decoder.

/// Direction an embedded IS-683 message travels (C.S0016 §4 forward,
/// §3 reverse). Kept local rather than borrowed from the IS-683 codec so
/// this module stays independent of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// Server (OTAF) to handset: an IS-683 request.
    Forward,
    /// Handset to server: an IS-683 response.
    Reverse,
}

impl Link {
    /// The value of the `link` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Forward => "forward",
            Link::Reverse => "reverse",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        match name {
            "forward" => Some(Link::Forward),
            "reverse" => Some(Link::Reverse),
            _ => None,
        }
    }
}

/// IOTA session control carried in `<control action="...">`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// Handset: open a session. Server: the session is accepted.
    Start,
    /// End the IOTA session; the handset releases the data call.
    Terminate,
    /// Server: restart the handset so it attaches with the new NAM.
    Reboot,
}

impl Control {
    /// The value of the `action` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Start => "start",
            Control::Terminate => "terminate",
            Control::Reboot => "reboot",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        match name {
            "start" => Some(Control::Start),
            "terminate" => Some(Control::Terminate),
            "reboot" => Some(Control::Reboot),
            _ => None,
        }
    }
}

/// `<device>`: who the handset is. ESN and MEID are hex strings; the
/// decoder returns them in upper case, the encoder writes upper case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// 8 hex digits (a true ESN or the pESN of an MEID handset).
    pub esn: Option<String>,
    /// 14 hex digits, without the check digit.
    pub meid: Option<String>,
    pub make: Option<String>,
    pub model: Option<String>,
}

/// `<is683>`: one OTASP/OTAPA message, opaque to this codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Is683Payload {
    pub link: Link,
    /// Pairs a reverse-link response with the forward-link request it
    /// answers; unique per link within a document.
    pub seq: u32,
    /// The message octets, starting with OTASP_MSG_TYPE.
    pub bytes: Vec<u8>,
}

/// `<control>`: one session-control instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlItem {
    pub action: Control,
    /// Free text for logs and the handset's display; never interpreted.
    pub reason: Option<String>,
}

/// `<status>`: an error the server reports (e.g. 403, handset already
/// activated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusItem {
    /// Three digits, 100..=999, with HTTP-like meaning.
    pub code: u16,
    pub text: String,
}

/// One MMC document, the body of every IOTA HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MmcDocument {
    /// Server-assigned session id; `None` only before the server has
    /// assigned one (the handset's first request, or a refusal).
    pub session: Option<String>,
    pub device: Option<DeviceInfo>,
    pub controls: Vec<ControlItem>,
    pub messages: Vec<Is683Payload>,
    pub status: Option<StatusItem>,
}

impl MmcDocument {
    /// Whether the document carries `<control action="c">`.
    pub fn has_control(&self, c: Control) -> bool {
        self.controls.iter().any(|item| item.action == c)
    }
}
