//! The handset's SMS side: short messages in, WAP push datagrams out. Parts
//! of a concatenated datagram are collected by (sender, reference) until
//! all have arrived; a repeated part is ignored, as handsets do.

use std::collections::HashMap;

use crate::messaging::codec::wdp::{self, Ports};
use crate::messaging::codec::wsp::PushPdu;
use crate::messaging::codec::CodecError;

/// A complete WAP push received by a handset.
#[derive(Debug, Clone)]
pub struct ReceivedPush {
    pub destination: String,
    pub ports: Option<Ports>,
    pub push: PushPdu,
}

#[derive(Default)]
pub struct SmsInbox {
    partial: HashMap<(String, u16), Vec<Option<Vec<u8>>>>,
}

impl SmsInbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one short message (TP user data with UDH) for `destination`;
    /// returns the push once its datagram is complete.
    pub fn receive(
        &mut self,
        destination: &str,
        user_data: &[u8],
    ) -> Result<Option<ReceivedPush>, CodecError> {
        let ud = wdp::parse_user_data(user_data)?;
        let datagram = match ud.concatenation {
            None => ud.payload.to_vec(),
            Some(c) => {
                let key = (destination.to_string(), c.reference);
                let slots = self
                    .partial
                    .entry(key.clone())
                    .or_insert_with(|| vec![None; usize::from(c.total)]);
                if slots.len() != usize::from(c.total) {
                    *slots = vec![None; usize::from(c.total)];
                }
                if let Some(slot) = slots.get_mut(usize::from(c.sequence) - 1) {
                    *slot = Some(ud.payload.to_vec());
                }
                if slots.iter().any(Option::is_none) {
                    return Ok(None);
                }
                let parts = self.partial.remove(&key).unwrap_or_default();
                parts.into_iter().flatten().flatten().collect()
            }
        };
        Ok(Some(ReceivedPush {
            destination: destination.to_string(),
            ports: ud.ports,
            push: PushPdu::decode(&datagram)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::codec::wdp::SegmentOptions;

    #[test]
    fn reassembles_in_any_order_and_ignores_repeats() {
        let pdu = PushPdu::dm_notification(1, vec![0x55; 300])
            .encode()
            .unwrap();
        let segs = wdp::segment(&pdu, 9, &SegmentOptions::default()).unwrap();
        assert_eq!(segs.len(), 3);
        let mut inbox = SmsInbox::new();
        assert!(inbox
            .receive("5550100", &segs[2].user_data)
            .unwrap()
            .is_none());
        assert!(inbox
            .receive("5550100", &segs[0].user_data)
            .unwrap()
            .is_none());
        assert!(inbox
            .receive("5550100", &segs[0].user_data)
            .unwrap()
            .is_none());
        let got = inbox
            .receive("5550100", &segs[1].user_data)
            .unwrap()
            .unwrap();
        assert_eq!(got.push.body, vec![0x55; 300]);
        assert_eq!(got.ports, Some(Ports::WAP_PUSH));
    }
}
