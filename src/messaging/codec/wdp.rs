//! WDP over GSM SMS: the user data header that carries WDP ports, and the
//! segmentation of a WDP datagram into concatenated short messages.
//!
//! References:
//! * WAP-259-WDP-20010614-a annex A (GSM SMS bearer): ports travel in the
//!   TP-User-Data header, long datagrams use SMS concatenation.
//! * 3GPP TS 23.040 section 9.2.3.24 (TP-User-Data header):
//!   IEI 0x00 concatenated short message, 8-bit reference (length 3:
//!   reference, total, sequence from 1); IEI 0x05 application port
//!   addressing, 16-bit (length 4: destination, originator);
//!   TP-UDL <= 140 octets for 8-bit data.
//! * 3GPP TS 23.038 section 4: DCS 0x04 (general group, 8-bit data, no
//!   class) and 0xF5 (data coding/message class group, 8-bit, class 1).
//! * SMPP 3.4 section 5.2.12: esm_class bit 0x40 = UDHI.
//!
//! The port IE is repeated in every segment, as the WAP examples and common
//! SMSC/handset implementations do, so that each part is routable alone.

use super::{CodecError, Reader};

/// WDP port of the WAP Push connectionless session service on the handset.
pub const WAP_PUSH_PORT: u16 = 2948;
/// WDP port of the connectionless WSP session service (originator).
pub const WSP_CONNECTIONLESS_PORT: u16 = 9200;
/// Maximum TP-User-Data length for 8-bit data (TS 23.040 9.2.3.16).
pub const MAX_USER_DATA: usize = 140;
/// SMPP esm_class with the UDHI bit set.
pub const ESM_CLASS_UDHI: u8 = 0x40;

const IEI_CONCAT_8BIT: u8 = 0x00;
const IEI_PORTS_8BIT: u8 = 0x04;
const IEI_PORTS_16BIT: u8 = 0x05;
const IEI_CONCAT_16BIT: u8 = 0x08;

/// UDH of a lone segment: UDHL + port IE (1 + 2 + 4).
const SINGLE_UDH_LEN: usize = 7;
/// UDH of a concatenated segment: UDHL + port IE + concatenation IE
/// (1 + 6 + 5).
const CONCAT_UDH_LEN: usize = 12;
/// Payload room in a lone segment: 140 - 7 = 133.
pub const SINGLE_PAYLOAD: usize = MAX_USER_DATA - SINGLE_UDH_LEN;
/// Payload room in each concatenated segment: 140 - 12 = 128.
pub const CONCAT_PAYLOAD: usize = MAX_USER_DATA - CONCAT_UDH_LEN;

/// Data coding scheme for 8-bit WDP payloads (TS 23.038 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataCoding {
    /// 0x04: general data coding, 8-bit data, no message class.
    #[default]
    Octet,
    /// 0xF5: 8-bit data, message class 1 (ME-specific), which some
    /// SMSCs and older handsets expect for WAP push.
    OctetClass1,
}

impl DataCoding {
    /// The TP-DCS / SMPP data_coding octet.
    pub fn dcs(self) -> u8 {
        match self {
            DataCoding::Octet => 0x04,
            DataCoding::OctetClass1 => 0xF5,
        }
    }
}

/// WDP source and destination ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Destination port on the handset.
    pub destination: u16,
    /// Originator port.
    pub source: u16,
}

impl Ports {
    /// Connectionless WAP push: 2948 from 9200.
    pub const WAP_PUSH: Ports = Ports {
        destination: WAP_PUSH_PORT,
        source: WSP_CONNECTIONLESS_PORT,
    };
}

/// How [`segment`] should build the short messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOptions {
    /// WDP ports for the port addressing IE.
    pub ports: Ports,
    /// Data coding the SMPP layer must declare.
    pub data_coding: DataCoding,
    /// Upper bound on the number of segments (1..=255); operators usually cap
    /// concatenation well below the 255 the 8-bit reference scheme allows.
    pub max_segments: u8,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        Self {
            ports: Ports::WAP_PUSH,
            data_coding: DataCoding::default(),
            max_segments: u8::MAX,
        }
    }
}

/// One short message ready for SMPP `submit_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSegment {
    /// Complete TP-User-Data: UDHL, UDH, then the payload slice.
    pub user_data: Vec<u8>,
    /// esm_class to set: always [`ESM_CLASS_UDHI`] since a UDH is present.
    pub esm_class: u8,
    /// data_coding to set.
    pub data_coding: u8,
    /// Sequence number of this segment, from 1.
    pub sequence: u8,
    /// Number of segments of the datagram.
    pub total: u8,
}

/// Splits a WDP datagram (typically a WSP Push PDU) into SMS user data
/// (WAP-259-WDP annex A, TS 23.040 9.2.3.24.1 and 9.2.3.24.4).
///
/// Up to 133 octets fit one message with only the port IE; longer payloads
/// are cut into 128-octet pieces, each with the port IE and an 8-bit
/// concatenation IE carrying `reference`. The outbox assigns `reference` so
/// that concurrent datagrams to the same handset differ.
///
/// Fails when the payload is empty, when `max_segments` is 0, or when the
/// payload needs more than `max_segments` segments.
pub fn segment(
    payload: &[u8],
    reference: u8,
    options: &SegmentOptions,
) -> Result<Vec<SmsSegment>, CodecError> {
    if payload.is_empty() {
        return Err(CodecError::Invalid {
            field: "WDP payload",
            reason: "empty",
        });
    }
    if options.max_segments == 0 {
        return Err(CodecError::Invalid {
            field: "max_segments",
            reason: "must be at least 1",
        });
    }
    let dcs = options.data_coding.dcs();
    let ports = port_ie(options.ports);

    if payload.len() <= SINGLE_PAYLOAD {
        let mut ud = Vec::with_capacity(SINGLE_UDH_LEN + payload.len());
        ud.push((SINGLE_UDH_LEN - 1) as u8);
        ud.extend_from_slice(&ports);
        ud.extend_from_slice(payload);
        return Ok(vec![SmsSegment {
            user_data: ud,
            esm_class: ESM_CLASS_UDHI,
            data_coding: dcs,
            sequence: 1,
            total: 1,
        }]);
    }

    let needed = payload.len().div_ceil(CONCAT_PAYLOAD);
    let limit = usize::from(options.max_segments);
    let total = match u8::try_from(needed) {
        Ok(t) if needed <= limit => t,
        _ => {
            return Err(CodecError::TooManySegments {
                payload_len: payload.len(),
                needed,
                limit,
            })
        }
    };

    Ok(payload
        .chunks(CONCAT_PAYLOAD)
        .zip(1..=total)
        .map(|(chunk, sequence)| {
            let mut ud = Vec::with_capacity(CONCAT_UDH_LEN + chunk.len());
            ud.push((CONCAT_UDH_LEN - 1) as u8);
            ud.extend_from_slice(&ports);
            ud.extend_from_slice(&[IEI_CONCAT_8BIT, 0x03, reference, total, sequence]);
            ud.extend_from_slice(chunk);
            SmsSegment {
                user_data: ud,
                esm_class: ESM_CLASS_UDHI,
                data_coding: dcs,
                sequence,
                total,
            }
        })
        .collect())
}

fn port_ie(ports: Ports) -> [u8; 6] {
    let [d0, d1] = ports.destination.to_be_bytes();
    let [s0, s1] = ports.source.to_be_bytes();
    [IEI_PORTS_16BIT, 0x04, d0, d1, s0, s1]
}

/// Concatenation information from a user data header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concatenation {
    /// Reference shared by all segments (8- or 16-bit scheme).
    pub reference: u16,
    /// Number of segments.
    pub total: u8,
    /// Sequence number from 1.
    pub sequence: u8,
}

/// TP-User-Data split into the header fields WDP cares about and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData<'a> {
    /// Application ports, if a port IE was present.
    pub ports: Option<Ports>,
    /// Concatenation, if a concatenation IE was present.
    pub concatenation: Option<Concatenation>,
    /// Octets after the header.
    pub payload: &'a [u8],
}

/// Parses TP-User-Data that starts with a UDH (UDHI set), per TS 23.040
/// 9.2.3.24. Unknown IEs are skipped; malformed lengths are errors.
pub fn parse_user_data(user_data: &[u8]) -> Result<UserData<'_>, CodecError> {
    let mut r = Reader::new(user_data);
    let udhl = usize::from(r.u8("user data header")?);
    let mut h = Reader::new(r.take(udhl, "user data header")?);
    let mut ports = None;
    let mut concatenation = None;
    while !h.is_empty() {
        let iei = h.u8("information element")?;
        let len = usize::from(h.u8("information element")?);
        let data = h.take(len, "information element")?;
        match (iei, data) {
            (IEI_PORTS_16BIT, [d0, d1, s0, s1]) => {
                ports = Some(Ports {
                    destination: u16::from_be_bytes([*d0, *d1]),
                    source: u16::from_be_bytes([*s0, *s1]),
                });
            }
            (IEI_PORTS_8BIT, [d, s]) => {
                ports = Some(Ports {
                    destination: u16::from(*d),
                    source: u16::from(*s),
                });
            }
            (IEI_CONCAT_8BIT, [reference, total, sequence]) => {
                concatenation = Some(Concatenation {
                    reference: u16::from(*reference),
                    total: *total,
                    sequence: *sequence,
                });
            }
            (IEI_CONCAT_16BIT, [r0, r1, total, sequence]) => {
                concatenation = Some(Concatenation {
                    reference: u16::from_be_bytes([*r0, *r1]),
                    total: *total,
                    sequence: *sequence,
                });
            }
            (IEI_PORTS_16BIT | IEI_PORTS_8BIT | IEI_CONCAT_8BIT | IEI_CONCAT_16BIT, _) => {
                return Err(CodecError::Invalid {
                    field: "information element",
                    reason: "wrong length for its IEI",
                });
            }
            _ => {}
        }
    }
    if let Some(c) = concatenation {
        if c.total == 0 || c.sequence == 0 || c.sequence > c.total {
            return Err(CodecError::Invalid {
                field: "concatenation IE",
                reason: "sequence outside 1..=total",
            });
        }
    }
    Ok(UserData {
        ports,
        concatenation,
        payload: r.rest(),
    })
}

/// Rebuilds a WDP datagram from the user data of all its segments, in any
/// order; the inverse of [`segment`], used to check it.
pub fn reassemble(segments: &[&[u8]]) -> Result<(Option<Ports>, Vec<u8>), CodecError> {
    let parsed = segments
        .iter()
        .map(|s| parse_user_data(s))
        .collect::<Result<Vec<_>, _>>()?;
    let first = parsed.first().ok_or(CodecError::Invalid {
        field: "segments",
        reason: "none given",
    })?;
    let ports = first.ports;
    let Some(head) = first.concatenation else {
        if parsed.len() == 1 {
            return Ok((ports, first.payload.to_vec()));
        }
        return Err(CodecError::Invalid {
            field: "segments",
            reason: "several segments without concatenation IE",
        });
    };
    if parsed.len() != usize::from(head.total) {
        return Err(CodecError::Invalid {
            field: "segments",
            reason: "count differs from the concatenation total",
        });
    }
    let mut slots: Vec<Option<&[u8]>> = vec![None; usize::from(head.total)];
    for p in &parsed {
        let c = p.concatenation.ok_or(CodecError::Invalid {
            field: "segments",
            reason: "segment without concatenation IE",
        })?;
        if c.reference != head.reference || c.total != head.total || p.ports != ports {
            return Err(CodecError::Invalid {
                field: "segments",
                reason: "segments of different datagrams",
            });
        }
        let slot = usize::from(c.sequence)
            .checked_sub(1)
            .and_then(|i| slots.get_mut(i))
            .ok_or(CodecError::Invalid {
                field: "segments",
                reason: "sequence outside 1..=total",
            })?;
        if slot.replace(p.payload).is_some() {
            return Err(CodecError::Invalid {
                field: "segments",
                reason: "duplicate sequence number",
            });
        }
    }
    let mut out = Vec::new();
    for s in slots.into_iter().flatten() {
        out.extend_from_slice(s);
    }
    Ok((ports, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn single_segment_udh() {
        // TS 23.040: UDHL 06, IEI 05 (16-bit ports) length 04,
        // destination 2948 = 0x0B84, source 9200 = 0x23F0.
        let segs = segment(&[0x01, 0x06], 0, &SegmentOptions::default()).unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(
            segs[0].user_data,
            [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x01, 0x06]
        );
        assert_eq!(segs[0].esm_class, 0x40);
        assert_eq!(segs[0].data_coding, 0x04);
        assert_eq!((segs[0].sequence, segs[0].total), (1, 1));
    }

    #[test]
    fn boundary_133_vs_134() {
        let one = segment(&payload(133), 7, &SegmentOptions::default()).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].user_data.len(), 140);

        // 134 octets no longer fit: two segments of 128 + 6.
        let two = segment(&payload(134), 7, &SegmentOptions::default()).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].user_data.len(), 140);
        assert_eq!(two[1].user_data.len(), 12 + 6);
    }

    #[test]
    fn concatenated_udh_bytes() {
        // UDHL 0B; 05 04 0B84 23F0; IEI 00 length 03, reference 0x5A,
        // total 02, sequence 01 / 02.
        let opts = SegmentOptions {
            data_coding: DataCoding::OctetClass1,
            ..SegmentOptions::default()
        };
        let segs = segment(&payload(200), 0x5A, &opts).unwrap();
        let udh1 = [
            0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x5A, 0x02, 0x01,
        ];
        let udh2 = [
            0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x5A, 0x02, 0x02,
        ];
        assert_eq!(&segs[0].user_data[..12], &udh1);
        assert_eq!(&segs[1].user_data[..12], &udh2);
        assert!(segs
            .iter()
            .all(|s| s.data_coding == 0xF5 && s.esm_class == 0x40));
        assert!(segs.iter().all(|s| s.user_data.len() <= MAX_USER_DATA));
    }

    #[test]
    fn round_trip_out_of_order() {
        let data = payload(1000);
        let segs = segment(&data, 200, &SegmentOptions::default()).unwrap();
        assert_eq!(segs.len(), 8); // ceil(1000 / 128)
        let mut uds: Vec<&[u8]> = segs.iter().map(|s| s.user_data.as_slice()).collect();
        uds.reverse();
        let (ports, rebuilt) = reassemble(&uds).unwrap();
        assert_eq!(ports, Some(Ports::WAP_PUSH));
        assert_eq!(rebuilt, data);

        let single = segment(&data[..50], 0, &SegmentOptions::default()).unwrap();
        assert_eq!(
            reassemble(&[single[0].user_data.as_slice()]).unwrap().1,
            &data[..50]
        );
    }

    #[test]
    fn limits() {
        // 255 * 128 octets is the most the 8-bit scheme can carry.
        let max = payload(255 * CONCAT_PAYLOAD);
        assert_eq!(
            segment(&max, 1, &SegmentOptions::default()).unwrap().len(),
            255
        );
        let over = payload(255 * CONCAT_PAYLOAD + 1);
        assert_eq!(
            segment(&over, 1, &SegmentOptions::default()),
            Err(CodecError::TooManySegments {
                payload_len: over.len(),
                needed: 256,
                limit: 255
            })
        );
        // A configured cap of 3 rejects a 4-segment payload.
        let opts = SegmentOptions {
            max_segments: 3,
            ..SegmentOptions::default()
        };
        assert!(segment(&payload(3 * 128), 1, &opts).is_ok());
        assert!(matches!(
            segment(&payload(3 * 128 + 1), 1, &opts),
            Err(CodecError::TooManySegments {
                needed: 4,
                limit: 3,
                ..
            })
        ));
        assert!(segment(&[], 1, &SegmentOptions::default()).is_err());
        let zero = SegmentOptions {
            max_segments: 0,
            ..SegmentOptions::default()
        };
        assert!(segment(&[1], 1, &zero).is_err());
    }

    #[test]
    fn parse_rejects_malformed_headers() {
        assert!(parse_user_data(&[]).is_err());
        // UDHL longer than the data.
        assert!(parse_user_data(&[0x06, 0x05, 0x04]).is_err());
        // IE length running past the UDH.
        assert!(parse_user_data(&[0x02, 0x05, 0x04]).is_err());
        // Port IE with the wrong length.
        assert!(parse_user_data(&[0x04, 0x05, 0x02, 0x0B, 0x84]).is_err());
        // Sequence 0.
        assert!(parse_user_data(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x00]).is_err());
        // Unknown IE skipped; 8-bit ports understood.
        let ud = parse_user_data(&[0x07, 0x70, 0x01, 0xFF, 0x04, 0x02, 0x10, 0x20, 0xAB]).unwrap();
        assert_eq!(
            ud.ports,
            Some(Ports {
                destination: 0x10,
                source: 0x20
            })
        );
        assert_eq!(ud.payload, [0xAB]);
        // Missing segment.
        let segs = segment(&payload(300), 9, &SegmentOptions::default()).unwrap();
        assert!(reassemble(&[&segs[0].user_data, &segs[1].user_data]).is_err());
        // Duplicate segment.
        assert!(reassemble(&[&segs[0].user_data, &segs[0].user_data, &segs[1].user_data]).is_err());
        // Exhaustive short headers must never panic.
        for a in 0..=255u8 {
            for b in 0..=8u8 {
                let _ = parse_user_data(&[b, a, 0x03, 0x01, 0x02, 0x03, 0x04]);
            }
        }
    }
}
