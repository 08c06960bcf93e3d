//! Translation between our types and rusmpp PDUs on the ESME side.

use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, SubmitSm};
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{InterfaceVersion, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use super::super::config::SmscConfig;
use super::super::error::LinkError;
use super::super::receipt::{DeliveryReceipt, ReceiptState};
use super::{LinkEvent, OutgoingSm};

/// esm_class bits 2..5 = 0001: SMSC delivery receipt.
const ESM_TYPE_MASK: u8 = 0x3C;
const ESM_TYPE_RECEIPT: u8 = 0x04;

/// Which bind a connection performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Transceiver,
    Transmitter,
    Receiver,
}

impl Role {
    pub(super) fn name(self) -> &'static str {
        match self {
            Role::Transceiver => "bind_transceiver",
            Role::Transmitter => "bind_transmitter",
            Role::Receiver => "bind_receiver",
        }
    }

    pub(super) fn response_id(self) -> CommandId {
        match self {
            Role::Transceiver => CommandId::BindTransceiverResp,
            Role::Transmitter => CommandId::BindTransmitterResp,
            Role::Receiver => CommandId::BindReceiverResp,
        }
    }

    pub(super) fn bind_pdu(self, config: &SmscConfig) -> Result<Pdu, String> {
        let system_id = c_string(&config.system_id, "system_id")?;
        let password = c_string(&config.password, "password")?;
        let system_type = c_string(&config.system_type, "system_type")?;
        // We speak v3.4; rusmpp's default of 5.0 would invite v5-only PDUs.
        let version = InterfaceVersion::Smpp3_4;
        let (ton, npi, range) = (Ton::Unknown, Npi::Unknown, COctetString::empty());
        Ok(match self {
            Role::Transceiver => {
                BindTransceiver::new(system_id, password, system_type, version, ton, npi, range)
                    .into()
            }
            Role::Transmitter => {
                BindTransmitter::new(system_id, password, system_type, version, ton, npi, range)
                    .into()
            }
            Role::Receiver => {
                BindReceiver::new(system_id, password, system_type, version, ton, npi, range).into()
            }
        })
    }
}

fn c_string<const MIN: usize, const MAX: usize>(
    value: &str,
    field: &str,
) -> Result<COctetString<MIN, MAX>, String> {
    COctetString::from_string(value.to_owned()).map_err(|e| format!("{field} cannot be sent: {e}"))
}

/// The per-link parts of every submit_sm, encoded once.
pub(super) struct SubmitTemplate {
    source_addr: Result<COctetString<1, 21>, String>,
    source_ton: Ton,
    source_npi: Npi,
    dest_ton: Ton,
    dest_npi: Npi,
}

impl SubmitTemplate {
    pub(super) fn new(config: &SmscConfig) -> SubmitTemplate {
        SubmitTemplate {
            source_addr: COctetString::from_string(config.source_addr.clone())
                .map_err(|_| config.source_addr.clone()),
            source_ton: config.source_ton.into(),
            source_npi: config.source_npi.into(),
            dest_ton: config.dest_ton.into(),
            dest_npi: config.dest_npi.into(),
        }
    }

    /// A submit_sm command; its sequence number is set at dispatch.
    pub(super) fn build(&self, sm: OutgoingSm) -> Result<Command, LinkError> {
        let source_addr = self
            .source_addr
            .clone()
            .map_err(LinkError::InvalidAddress)?;
        if !is_address(&sm.destination) {
            return Err(LinkError::InvalidAddress(sm.destination));
        }
        let destination_addr = COctetString::from_string(sm.destination)
            .map_err(|_| LinkError::InvalidAddress(String::new()))?;
        let len = sm.short_message.len();
        let short_message =
            OctetString::from_vec(sm.short_message).map_err(|_| LinkError::TooLong(len))?;
        let submit = SubmitSm::builder()
            .source_addr_ton(self.source_ton)
            .source_addr_npi(self.source_npi)
            .source_addr(source_addr)
            .dest_addr_ton(self.dest_ton)
            .dest_addr_npi(self.dest_npi)
            .destination_addr(destination_addr)
            .esm_class(sm.esm_class.into())
            .registered_delivery(RegisteredDelivery::from(u8::from(sm.registered_delivery)))
            .data_coding(sm.data_coding.into())
            .short_message(short_message)
            .build();
        Ok(Command::new(CommandStatus::EsmeRok, 0, submit))
    }
}

/// What `COctetString<1, 21>` accepts, checked up front so the error can
/// name the address without cloning it on the hot path.
fn is_address(value: &str) -> bool {
    value.len() <= 20 && value.bytes().all(|b| b.is_ascii() && b != 0)
}

/// Reads a deliver_sm as a receipt or an MO message.
pub(super) fn deliver_to_event(deliver: DeliverSm) -> LinkEvent {
    let parts = deliver.into_parts();
    let esm_class = u8::from(parts.esm_class);
    let mut short_message = parts.short_message.into_vec();
    if short_message.is_empty() {
        // Long MO and some receipts arrive in message_payload instead.
        if let Some(payload) = parts.tlvs.iter().find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(p)) => Some(p.value.to_vec()),
            _ => None,
        }) {
            short_message = payload;
        }
    }
    if esm_class & ESM_TYPE_MASK == ESM_TYPE_RECEIPT {
        receipt_event(&parts.tlvs, short_message)
    } else {
        LinkEvent::Inbound {
            source_addr: parts.source_addr.as_str().to_owned(),
            destination_addr: parts.destination_addr.as_str().to_owned(),
            data_coding: u8::from(parts.data_coding),
            esm_class,
            short_message,
        }
    }
}

fn receipt_event(tlvs: &[Tlv], body: Vec<u8>) -> LinkEvent {
    let raw = String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let parsed = DeliveryReceipt::parse(&raw);
    let mut tlv_id = None;
    let mut tlv_state = None;
    for tlv in tlvs {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => tlv_id = Some(id.as_str().to_owned()),
            Some(TlvValue::MessageState(state)) => tlv_state = Some(u8::from(*state)),
            _ => {}
        }
    }
    let state = tlv_state
        .map(ReceiptState::from_message_state)
        .or_else(|| parsed.state())
        .unwrap_or(ReceiptState::Unknown);
    LinkEvent::Receipt {
        message_id: tlv_id.or(parsed.id).unwrap_or_default(),
        state,
        error_code: parsed.err,
        raw,
    }
}

#[cfg(test)]
mod tests {
    use rusmpp::tokio_codec::CommandCodec;
    use tokio_util::bytes::BytesMut;
    use tokio_util::codec::Encoder;

    use super::super::super::wire::request;
    use super::*;

    fn encode(command: Command) -> Vec<u8> {
        let mut buf = BytesMut::new();
        CommandCodec::new().encode(command, &mut buf).unwrap();
        buf.to_vec()
    }

    #[test]
    fn submit_sm_wire_layout() {
        let mut config = SmscConfig::new("h", 1, "id", "pw");
        config.source_addr = "4242".into();
        let template = SubmitTemplate::new(&config);
        let mut command = template
            .build(OutgoingSm {
                destination: "15551230001".into(),
                esm_class: 0x00,
                data_coding: 0x04,
                short_message: vec![0xAA, 0xBB],
                registered_delivery: true,
            })
            .unwrap();
        command.sequence_number = 7;
        let mut body = vec![0u8]; // service_type
        body.extend([0, 0]);
        body.extend(b"4242\0");
        body.extend([1, 1]);
        body.extend(b"15551230001\0");
        // esm_class, protocol_id, priority_flag, two empty times
        body.extend([0x00, 0, 0, 0, 0]);
        // registered_delivery, replace_if_present, data_coding, default msg id
        body.extend([1, 0, 0x04, 0]);
        body.extend([2, 0xAA, 0xBB]);
        let mut expected = ((16 + body.len()) as u32).to_be_bytes().to_vec();
        expected.extend([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend(body);
        assert_eq!(encode(command), expected);
    }

    #[test]
    fn bind_wire_layout() {
        let mut config = SmscConfig::new("h", 1, "esme", "pw");
        config.system_type = "MDM".into();
        let pdu = Role::Transceiver.bind_pdu(&config).unwrap();
        let bytes = encode(request(pdu, 1));
        assert_eq!(&bytes[4..8], &[0, 0, 0, 9]);
        assert_eq!(&bytes[16..], b"esme\0pw\0MDM\0\x34\0\0\0");
    }

    #[test]
    fn deliver_sm_receipt_prefers_tlvs() {
        use rusmpp::tlvs::MessageDeliveryRequestTlvValue as V;
        use rusmpp::values::{EsmClass, MessageState};
        let mut deliver = DeliverSm::builder()
            .esm_class(EsmClass::from(0x04))
            .short_message(
                OctetString::from_vec(b"id:TEXTID stat:UNDELIV err:012 text:x".to_vec()).unwrap(),
            )
            .build();
        assert!(matches!(
            deliver_to_event(deliver.clone()),
            LinkEvent::Receipt { ref message_id, state: ReceiptState::Undeliverable, .. } if message_id == "TEXTID"
        ));
        deliver.push_tlv(V::ReceiptedMessageId(
            COctetString::from_string("TLVID".into()).unwrap(),
        ));
        deliver.push_tlv(V::MessageState(MessageState::Expired));
        let LinkEvent::Receipt {
            message_id,
            state,
            error_code,
            ..
        } = deliver_to_event(deliver)
        else {
            panic!("not a receipt");
        };
        assert_eq!(message_id, "TLVID");
        assert_eq!(state, ReceiptState::Expired);
        assert_eq!(error_code.as_deref(), Some("012"));
    }
}
