//! PDUs the test SMSC sends.

use std::time::SystemTime;

use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSmResp,
};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, InterfaceVersion, MessageState};
use rusmpp::{Command, CommandStatus, Pdu};

use super::super::receipt::{format_receipt_date, DeliveryReceipt, ReceiptState};
use super::super::status::ESME_ROK;
use super::super::wire::response;

const SYSTEM_ID: &str = "TestSMSC";
/// Receipts quote this many octets of the original message.
const RECEIPT_TEXT_LEN: usize = 20;

/// The kind of bind a session holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    pub(super) fn can_submit(self) -> bool {
        self != BindKind::Receiver
    }

    pub(super) fn can_receive(self) -> bool {
        self != BindKind::Transmitter
    }
}

pub(super) fn bind_resp(kind: BindKind, status: u32, seq: u32) -> Command {
    let id = match kind {
        BindKind::Transmitter => rusmpp::CommandId::BindTransmitterResp,
        BindKind::Receiver => rusmpp::CommandId::BindReceiverResp,
        BindKind::Transceiver => rusmpp::CommandId::BindTransceiverResp,
    };
    if status != ESME_ROK {
        return response(id, status, seq);
    }
    let system_id = c_string(SYSTEM_ID).unwrap_or_default();
    let version = Some(InterfaceVersion::Smpp3_4);
    let pdu: Pdu = match kind {
        BindKind::Transmitter => BindTransmitterResp::new(system_id, version).into(),
        BindKind::Receiver => BindReceiverResp::new(system_id, version).into(),
        BindKind::Transceiver => BindTransceiverResp::new(system_id, version).into(),
    };
    Command::new(CommandStatus::EsmeRok, seq, pdu)
}

pub(super) fn submit_ok(message_id: &str, seq: u32) -> Command {
    let id = c_string(message_id).unwrap_or_default();
    Command::new(
        CommandStatus::EsmeRok,
        seq,
        SubmitSmResp::new(id, Vec::new()),
    )
}

/// What a receipt needs from the submit it reports on.
pub(super) struct ReceiptSource {
    pub(super) message_id: String,
    /// The submit's destination, which becomes the receipt's source.
    pub(super) handset: String,
    pub(super) esme_addr: String,
    pub(super) text: Vec<u8>,
    pub(super) submitted: SystemTime,
}

pub(super) fn receipt(source: &ReceiptSource) -> Option<Pdu> {
    let date = format_receipt_date(source.submitted);
    let quoted: String = source
        .text
        .iter()
        .take(RECEIPT_TEXT_LEN)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    let text = DeliveryReceipt {
        id: Some(source.message_id.clone()),
        sub: Some("001".into()),
        dlvrd: Some("001".into()),
        submit_date: Some(date.clone()),
        done_date: Some(date),
        stat: Some(ReceiptState::Delivered.as_stat().into()),
        err: Some("000".into()),
        text: Some(quoted),
    }
    .to_string();
    let deliver = DeliverSm::builder()
        .source_addr(c_string(&source.handset)?)
        .destination_addr(c_string(&source.esme_addr)?)
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_vec(text.into_bytes()).ok()?)
        .build();
    let mut deliver = deliver;
    deliver.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
        c_string(&source.message_id)?,
    ));
    deliver.push_tlv(MessageDeliveryRequestTlvValue::MessageState(
        MessageState::Delivered,
    ));
    Some(deliver.into())
}

/// A mobile-originated message; `None` if it cannot be encoded.
pub(super) fn mo_deliver(source: &str, destination: &str, text: &[u8]) -> Option<Pdu> {
    if text.len() > super::super::MAX_SHORT_MESSAGE {
        return None;
    }
    let deliver = DeliverSm::builder()
        .source_addr(c_string(source)?)
        .destination_addr(c_string(destination)?)
        // rusmpp's EsmClass::default() encodes as 0x08, so always be explicit.
        .esm_class(EsmClass::from(0))
        .short_message(OctetString::from_slice(text).ok()?)
        .build();
    Some(deliver.into())
}

fn c_string<const MIN: usize, const MAX: usize>(value: &str) -> Option<COctetString<MIN, MAX>> {
    COctetString::from_string(value.to_owned()).ok()
}
