//! The OSPP driver's automaton (the "automated CSC agent" of the source
//! document): which IS-683 request each stage of a flow sends, which answer
//! it waits for, and where an accepted answer leads. Pure: the driver
//! (`driver.rs`) persists the state and talks to the database.

use serde::{Deserialize, Serialize};

use super::is683::{
    segment_bytes, ForwardMessage, NamBlock, ResultCode, ReverseMessage, SsprBlock,
    MAX_SEGMENT_SIZE,
};
use super::mmc::Is683Payload;

/// The three call flows of the source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Handset-initiated from the bootstrap URL (26 steps).
    OneButton,
    /// IVR-triggered over SMPP, then a WAP Push SI (31 steps).
    StarCode,
    /// OTAP-administrator-triggered PRL download, WAP Push SL (44 steps).
    OtapaPrl,
    /// The IOTA branch of client-initiated FOTA (MMC 1.1).
    Fota,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::OneButton => "one_button",
            Flow::StarCode => "star_code",
            Flow::OtapaPrl => "otapa_prl",
            Flow::Fota => "fota",
        }
    }

    pub fn parse(s: &str) -> Option<Flow> {
        match s {
            "one_button" => Some(Flow::OneButton),
            "star_code" => Some(Flow::StarCode),
            "otapa_prl" => Some(Flow::OtapaPrl),
            "fota" => Some(Flow::Fota),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Flow::OneButton => "One-button activation",
            Flow::StarCode => "Star-code activation",
            Flow::OtapaPrl => "Automated PRL download",
            Flow::Fota => "IOTA FOTA",
        }
    }

    /// Activation flows program a NAM and restart the handset; the OTAPA
    /// download only replaces the PRL.
    pub fn activates(self) -> bool {
        matches!(self, Flow::OneButton | Flow::StarCode)
    }

    /// The stage a flow starts in once the handset is known.
    pub fn first_stage(self) -> Stage {
        match self {
            Flow::OneButton | Flow::StarCode => Stage::Nam,
            Flow::OtapaPrl => Stage::OtapaStart,
            Flow::Fota => Stage::Identify,
        }
    }
}

/// Where a session stands: the request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The handset has not said who it is: Protocol Capability Request.
    Identify,
    /// Download Request with the NAM blocks.
    Nam,
    /// SSPR Download Requests, one PRL segment each.
    Prl,
    /// Commit Request.
    Commit,
    /// OTAPA Request, START_STOP = 1.
    OtapaStart,
    /// OTAPA Request, START_STOP = 0.
    OtapaStop,
    /// IOTA FOTA: the package location was written; waiting for the
    /// handset's download report.
    Offered,
    /// IOTA FOTA: the handset installs; waiting for its final report.
    Installing,
    /// Nothing left: terminate the session.
    Done,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Identify => "identify",
            Stage::Nam => "nam_download",
            Stage::Prl => "prl_download",
            Stage::Commit => "commit",
            Stage::OtapaStart => "otapa_start",
            Stage::OtapaStop => "otapa_stop",
            Stage::Offered => "package_offered",
            Stage::Installing => "installing",
            Stage::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        [
            Stage::Identify,
            Stage::Nam,
            Stage::Prl,
            Stage::Commit,
            Stage::OtapaStart,
            Stage::OtapaStop,
            Stage::Offered,
            Stage::Installing,
            Stage::Done,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// What the session downloads: fixed when the session starts.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub nam: Vec<NamBlock>,
    /// The PRL octets, when the flow sends one.
    pub prl: Option<Vec<u8>>,
}

/// A forward request in flight, remembered until its answer arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sent {
    Capability {
        seq: u32,
    },
    Nam {
        seq: u32,
        block_ids: Vec<u8>,
    },
    PrlSegment {
        seq: u32,
        offset: u16,
        size: u8,
        last: bool,
    },
    Commit {
        seq: u32,
    },
    Otapa {
        seq: u32,
        start: bool,
    },
}

impl Sent {
    pub fn seq(&self) -> u32 {
        match self {
            Sent::Capability { seq }
            | Sent::Nam { seq, .. }
            | Sent::PrlSegment { seq, .. }
            | Sent::Commit { seq }
            | Sent::Otapa { seq, .. } => *seq,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Sent::Capability { .. } => "Protocol Capability Request".into(),
            Sent::Nam { .. } => "Download Request (NAM)".into(),
            Sent::PrlSegment { offset, size, .. } => {
                format!("SSPR Download Request (PRL octets {offset}+{size})")
            }
            Sent::Commit { .. } => "Commit Request".into(),
            Sent::Otapa { start: true, .. } => "OTAPA Request (start)".into(),
            Sent::Otapa { start: false, .. } => "OTAPA Request (stop)".into(),
        }
    }
}

/// How the handset answered one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted. `prl_next` is the offset after an accepted segment and
    /// whether it was the last one; `capability` the MOB_FIRM_REV and
    /// MOB_MODEL of a Protocol Capability Response.
    Accepted {
        prl_next: Option<(u16, bool)>,
        capability: Option<(u16, u8)>,
    },
    /// The handset refused the request with a result code.
    Rejected(String),
    /// The answer does not fit the request: a different message type, other
    /// blocks, another segment.
    Mismatch(String),
}

/// Judges a reverse-link message against the request it claims to answer.
pub fn judge(sent: &Sent, answer: &ReverseMessage) -> Answer {
    let accepted = Answer::Accepted {
        prl_next: None,
        capability: None,
    };
    let refused =
        |what: &str, code: ResultCode| Answer::Rejected(format!("{what}: {}", code.description()));
    match (sent, answer) {
        (
            Sent::Capability { .. },
            ReverseMessage::ProtocolCapabilityResponse {
                mob_firm_rev,
                mob_model,
                ..
            },
        ) => Answer::Accepted {
            prl_next: None,
            capability: Some((*mob_firm_rev, *mob_model)),
        },
        (Sent::Nam { block_ids, .. }, ReverseMessage::DownloadResponse { results }) => {
            let answered: Vec<u8> = results.iter().map(|(id, _)| *id).collect();
            if &answered != block_ids {
                return Answer::Mismatch(format!(
                    "Download Response covers blocks {answered:?}, the request sent {block_ids:?}"
                ));
            }
            match results
                .iter()
                .find(|(_, code)| *code != ResultCode::Accepted)
            {
                Some((id, code)) => refused(&format!("NAM block {id}"), *code),
                None => accepted,
            }
        }
        (
            Sent::PrlSegment {
                offset, size, last, ..
            },
            ReverseMessage::SsprDownloadResponse {
                result,
                segment_offset,
                segment_size,
                ..
            },
        ) => {
            if *result != ResultCode::Accepted {
                return refused(&format!("PRL segment at octet {offset}"), *result);
            }
            if segment_offset != offset || segment_size != size {
                return Answer::Mismatch(format!(
                    "SSPR Download Response for octets {segment_offset}+{segment_size}, the request sent {offset}+{size}"
                ));
            }
            Answer::Accepted {
                prl_next: Some((offset + u16::from(*size), *last)),
                capability: None,
            }
        }
        (Sent::Commit { .. }, ReverseMessage::CommitResponse { result }) => {
            if *result == ResultCode::Accepted {
                accepted
            } else {
                refused("Commit", *result)
            }
        }
        (Sent::Otapa { start, .. }, ReverseMessage::OtapaResponse { result, .. }) => {
            if *result == ResultCode::Accepted {
                accepted
            } else {
                refused(if *start { "OTAPA start" } else { "OTAPA stop" }, *result)
            }
        }
        (sent, other) => Answer::Mismatch(format!(
            "{} is not an answer to the {}",
            reverse_name(other),
            sent.describe()
        )),
    }
}

pub fn reverse_name(m: &ReverseMessage) -> &'static str {
    match m {
        ReverseMessage::ConfigurationResponse { .. } => "Configuration Response",
        ReverseMessage::DownloadResponse { .. } => "Download Response",
        ReverseMessage::MsKeyResponse { .. } => "MS Key Response",
        ReverseMessage::KeyGenerationResponse { .. } => "Key Generation Response",
        ReverseMessage::ReauthenticateResponse { .. } => "Re-Authenticate Response",
        ReverseMessage::CommitResponse { .. } => "Commit Response",
        ReverseMessage::ProtocolCapabilityResponse { .. } => "Protocol Capability Response",
        ReverseMessage::SsprConfigurationResponse { .. } => "SSPR Configuration Response",
        ReverseMessage::SsprDownloadResponse { .. } => "SSPR Download Response",
        ReverseMessage::ValidationResponse { .. } => "Validation Response",
        ReverseMessage::OtapaResponse { .. } => "OTAPA Response",
    }
}

/// The stage after `stage` once its request was accepted.
pub fn next_stage(flow: Flow, stage: Stage, plan: &Plan, prl_done: bool) -> Stage {
    let has_prl = plan.prl.is_some();
    match (flow, stage) {
        (_, Stage::Identify) => flow.first_stage(),
        (_, Stage::Nam) if has_prl => Stage::Prl,
        (_, Stage::Nam) => Stage::Commit,
        (_, Stage::Prl) if !prl_done => Stage::Prl,
        (_, Stage::Prl) => Stage::Commit,
        (Flow::OtapaPrl, Stage::OtapaStart) if has_prl => Stage::Prl,
        (Flow::OtapaPrl, Stage::OtapaStart) => Stage::Commit,
        (Flow::OtapaPrl, Stage::Commit) => Stage::OtapaStop,
        (_, Stage::Commit)
        | (_, Stage::OtapaStop)
        | (_, Stage::Offered)
        | (_, Stage::Installing)
        | (_, Stage::Done) => Stage::Done,
        (_, Stage::OtapaStart) => Stage::Commit,
    }
}

/// The forward request(s) of a stage, numbered from `next_seq`.
pub fn requests(
    stage: Stage,
    plan: &Plan,
    prl_offset: u16,
    next_seq: u32,
) -> Result<Vec<(Sent, ForwardMessage)>, super::is683::Is683Error> {
    let seq = next_seq;
    Ok(match stage {
        Stage::Identify => vec![(
            Sent::Capability { seq },
            ForwardMessage::ProtocolCapabilityRequest { request: None },
        )],
        Stage::Nam => vec![(
            Sent::Nam {
                seq,
                block_ids: plan.nam.iter().map(NamBlock::block_id).collect(),
            },
            ForwardMessage::DownloadRequest {
                blocks: plan.nam.clone(),
                fresh: Default::default(),
            },
        )],
        Stage::Prl => {
            let bytes = plan.prl.as_deref().unwrap_or_default();
            let segments = segment_bytes(bytes, MAX_SEGMENT_SIZE)?;
            match segments
                .into_iter()
                .find(|s| s.segment_offset == prl_offset)
            {
                Some(segment) => vec![(
                    Sent::PrlSegment {
                        seq,
                        offset: segment.segment_offset,
                        size: segment.data.len() as u8,
                        last: segment.last_segment,
                    },
                    ForwardMessage::SsprDownloadRequest {
                        block: SsprBlock::Prl(segment),
                        fresh: Default::default(),
                    },
                )],
                None => Vec::new(),
            }
        }
        Stage::Commit => vec![(Sent::Commit { seq }, ForwardMessage::CommitRequest)],
        Stage::OtapaStart => vec![(
            Sent::Otapa { seq, start: true },
            ForwardMessage::OtapaRequest { start: true },
        )],
        Stage::OtapaStop => vec![(
            Sent::Otapa { seq, start: false },
            ForwardMessage::OtapaRequest { start: false },
        )],
        Stage::Offered | Stage::Installing | Stage::Done => Vec::new(),
    })
}

/// Encodes requests as the `<is683 link="forward">` items of a document.
pub fn payloads(
    requests: &[(Sent, ForwardMessage)],
) -> Result<Vec<Is683Payload>, super::is683::Is683Error> {
    requests
        .iter()
        .map(|(sent, m)| {
            Ok(Is683Payload {
                link: super::mmc::Link::Forward,
                seq: sent.seq(),
                bytes: m.encode()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iota::is683::Mdn;

    fn plan(prl: Option<Vec<u8>>) -> Plan {
        Plan {
            nam: vec![NamBlock::Mdn(Mdn::new("6135550100"))],
            prl,
        }
    }

    #[test]
    fn activation_sends_nam_then_prl_then_commit() {
        let p = plan(Some(vec![0; 300]));
        let mut stage = Flow::OneButton.first_stage();
        let mut seen = vec![stage];
        let mut done = false;
        while stage != Stage::Done {
            if stage == Stage::Prl {
                done = seen.iter().filter(|s| **s == Stage::Prl).count() == 2;
            }
            stage = next_stage(Flow::OneButton, stage, &p, done);
            seen.push(stage);
        }
        assert_eq!(
            seen,
            vec![
                Stage::Nam,
                Stage::Prl,
                Stage::Prl,
                Stage::Commit,
                Stage::Done
            ]
        );
    }

    #[test]
    fn otapa_brackets_the_download_with_start_and_stop() {
        let p = plan(Some(vec![0; 10]));
        let mut stage = Flow::OtapaPrl.first_stage();
        let mut seen = vec![stage];
        while stage != Stage::Done {
            stage = next_stage(Flow::OtapaPrl, stage, &p, true);
            seen.push(stage);
        }
        assert_eq!(
            seen,
            vec![
                Stage::OtapaStart,
                Stage::Prl,
                Stage::Commit,
                Stage::OtapaStop,
                Stage::Done
            ]
        );
    }

    #[test]
    fn a_300_octet_prl_goes_in_two_segments() {
        let p = plan(Some((0..300u16).map(|i| i as u8).collect()));
        let first = requests(Stage::Prl, &p, 0, 5).unwrap();
        assert_eq!(
            first[0].0,
            Sent::PrlSegment {
                seq: 5,
                offset: 0,
                size: 251,
                last: false
            }
        );
        let second = requests(Stage::Prl, &p, 251, 6).unwrap();
        assert_eq!(
            second[0].0,
            Sent::PrlSegment {
                seq: 6,
                offset: 251,
                size: 49,
                last: true
            }
        );
        // The commit request is the single octet 05 (C.S0016 §4.5.1.6).
        let commit = requests(Stage::Commit, &p, 0, 7).unwrap();
        assert_eq!(payloads(&commit).unwrap()[0].bytes, vec![0x05]);
    }

    #[test]
    fn answers_are_judged_against_their_request() {
        let nam = Sent::Nam {
            seq: 1,
            block_ids: vec![0, 1],
        };
        let ok = ReverseMessage::DownloadResponse {
            results: vec![(0, ResultCode::Accepted), (1, ResultCode::Accepted)],
        };
        assert!(matches!(judge(&nam, &ok), Answer::Accepted { .. }));
        let refused = ReverseMessage::DownloadResponse {
            results: vec![(0, ResultCode::Accepted), (1, ResultCode::InvalidParameter)],
        };
        assert_eq!(
            judge(&nam, &refused),
            Answer::Rejected("NAM block 1: Rejected - Invalid parameter".into())
        );
        let other = ReverseMessage::CommitResponse {
            result: ResultCode::Accepted,
        };
        assert!(matches!(judge(&nam, &other), Answer::Mismatch(_)));
        let seg = Sent::PrlSegment {
            seq: 2,
            offset: 0,
            size: 22,
            last: true,
        };
        let crc = ReverseMessage::SsprDownloadResponse {
            block_id: 0,
            result: ResultCode::CrcError,
            segment_offset: 0,
            segment_size: 22,
        };
        assert_eq!(
            judge(&seg, &crc),
            Answer::Rejected("PRL segment at octet 0: Rejected - CRC error".into())
        );
    }
}
