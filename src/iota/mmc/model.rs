//! The in-memory form of an MMC document. Plain data: every rule about
//! what a valid document looks like lives in `rules.rs`, shared by the
//! encoder and the decoder.

use super::{VERSION, VERSION_1_1};

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
    /// The handset's firmware version as the firmware registry names it
    /// (e.g. `"KX1.0"`), free text like `make` and `model`. New in format
    /// version 1.1: a document that sets it is written as version 1.1.
    pub firmware: Option<String>,
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
/// activated), or an outcome the handset reports (e.g. 200, firmware
/// update installed). The codec does not care which side sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusItem {
    /// Three digits, 100..=999, with HTTP-like meaning.
    pub code: u16,
    pub text: String,
}

/// `<package>`: "download and install this update package", the write of
/// a firmware update's location (IOTA FOTA, format version 1.1). The
/// handset fetches the OMA Download OTA descriptor at `href` over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageItem {
    /// Absolute `http` or `https` URL of the download descriptor, at most
    /// [`MAX_PACKAGE_HREF`](super::MAX_PACKAGE_HREF) characters.
    pub href: String,
    /// The firmware version the package installs (e.g. `"KX1.1"`), free
    /// text like [`DeviceInfo::firmware`].
    pub version: String,
    /// Size of the update package in octets.
    pub size: u64,
    /// SHA-256 of the update package: 64 hex digits. The decoder returns
    /// them in lower case, the encoder writes lower case.
    pub sha256: String,
    /// Whether the user may not decline the update; `false` when the
    /// attribute is absent.
    pub mandatory: bool,
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
    /// New in format version 1.1: a document that carries it is written
    /// as version 1.1.
    pub package: Option<PackageItem>,
    pub status: Option<StatusItem>,
}

impl MmcDocument {
    /// Whether the document carries `<control action="c">`.
    pub fn has_control(&self, c: Control) -> bool {
        self.controls.iter().any(|item| item.action == c)
    }

    /// The format version the document is written in: [`VERSION_1_1`]
    /// (`"1.1"`) when it uses an item new in 1.1 (`<device firmware>` or
    /// `<package>`), else [`VERSION`] (`"1.0"`), so that a peer that only
    /// speaks 1.0 still reads every document it can understand.
    ///
    /// [`VERSION`]: super::VERSION
    /// [`VERSION_1_1`]: super::VERSION_1_1
    pub fn version(&self) -> &'static str {
        let firmware = self.device.as_ref().is_some_and(|d| d.firmware.is_some());
        if firmware || self.package.is_some() {
            VERSION_1_1
        } else {
            VERSION
        }
    }
}
