//! The handset simulator: plays an OMA-DM handset with its own DM tree so
//! tests, the demo and load runs exercise the server with the bytes a real
//! handset sends. `mdm sim fota` drives it from the command line.

pub mod dm_tree;
pub mod iota_client;
pub mod iota_handset;
pub mod omadm_handset;
pub mod sms_inbox;
pub mod trace;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the server answered {status}: {body}")]
    Server { status: u16, body: String },
    #[error("SyncML: {0}")]
    Syncml(#[from] crate::omadm::syncml::SyncmlError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("trace: {0}")]
    Io(#[from] std::io::Error),
}
