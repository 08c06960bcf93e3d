//! The predefined short messages that start server-initiated IOTA flows:
//! the IVR's star-code activation (`IOTA ACTIVATE <ESN|MEID>`) and the OTAP
//! administrator's PRL download (`OTAPA PRL <ESN|MEID|MDN> <PRL_ID>`). Each
//! is honoured only from its configured source addresses.

use super::driver::{self, PushContext};
use crate::db::DbConnection;
use crate::messaging::inbound::{InboundHandler, InboundSms};
use crate::registry::Actor;

/// What a trigger message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Activate { handset: String },
    OtapaPrl { handset: String, prl_id: i32 },
}

/// Parses the text of a trigger; `None` for anything else, an error for a
/// message that starts like a trigger but is malformed.
pub fn parse(text: &str) -> Option<Result<Trigger, String>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    match upper
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["IOTA", "ACTIVATE", _] => Some(Ok(Trigger::Activate {
            handset: words[2].to_string(),
        })),
        ["IOTA", "ACTIVATE", ..] => Some(Err("expected: IOTA ACTIVATE <ESN|MEID>".into())),
        ["OTAPA", "PRL", _, id] => Some(match id.parse::<i32>() {
            Ok(prl_id) if (0..=65_535).contains(&prl_id) => Ok(Trigger::OtapaPrl {
                handset: words[2].to_string(),
                prl_id,
            }),
            _ => Err(format!("\"{}\" is not a PRL id (0 to 65535)", words[3])),
        }),
        ["OTAPA", ..] => Some(Err("expected: OTAPA PRL <ESN|MEID|MDN> <PRL_ID>".into())),
        _ => None,
    }
}

/// The IVR's star-code trigger.
pub struct StarCodeTrigger {
    pub sources: Vec<String>,
    pub welcome: Option<String>,
    pub ctx: PushContext,
}

impl InboundHandler for StarCodeTrigger {
    fn name(&self) -> &'static str {
        "iota-star-code"
    }

    fn accepts(&self, sms: &InboundSms) -> bool {
        self.sources.contains(&sms.source_addr)
            && sms
                .text()
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("IOTA")
    }

    fn handle(&self, conn: &mut DbConnection, sms: &InboundSms) -> Result<String, String> {
        let handset = match parse(&sms.text()) {
            Some(Ok(Trigger::Activate { handset })) => handset,
            Some(Err(e)) => return Err(e),
            _ => return Err("not a star-code activation trigger".into()),
        };
        let actor = Actor::System("ivr");
        driver::start_star_code(conn, &actor, &handset, self.welcome.as_deref(), &self.ctx)
            .map(|s| {
                format!(
                    "star-code activation of {handset}: call-back session {}",
                    s.token
                )
            })
            .map_err(|e| {
                tracing::warn!(handset = %handset, error = %e, "star-code activation refused");
                e.to_string()
            })
    }
}

/// The OTAP administrator's PRL download trigger.
pub struct OtapaTrigger {
    pub sources: Vec<String>,
    pub ctx: PushContext,
}

impl InboundHandler for OtapaTrigger {
    fn name(&self) -> &'static str {
        "iota-otapa-prl"
    }

    fn accepts(&self, sms: &InboundSms) -> bool {
        self.sources.contains(&sms.source_addr)
            && sms
                .text()
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("OTAPA")
    }

    fn handle(&self, conn: &mut DbConnection, sms: &InboundSms) -> Result<String, String> {
        let (handset, prl_id) = match parse(&sms.text()) {
            Some(Ok(Trigger::OtapaPrl { handset, prl_id })) => (handset, prl_id),
            Some(Err(e)) => return Err(e),
            _ => return Err("not an OTAPA PRL trigger".into()),
        };
        let actor = Actor::System("otap-admin");
        driver::start_otapa(conn, &actor, &handset, prl_id, &self.ctx)
            .map(|s| {
                format!(
                    "PRL {prl_id} download for {handset}: call-back session {}",
                    s.token
                )
            })
            .map_err(|e| {
                tracing::warn!(handset = %handset, prl_id, error = %e, "OTAPA trigger refused");
                e.to_string()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_texts() {
        assert_eq!(
            parse("IOTA ACTIVATE 9F1ABCDE"),
            Some(Ok(Trigger::Activate {
                handset: "9F1ABCDE".into()
            }))
        );
        assert_eq!(
            parse(" otapa prl 6135550100 10020 "),
            Some(Ok(Trigger::OtapaPrl {
                handset: "6135550100".into(),
                prl_id: 10020
            }))
        );
        assert!(matches!(parse("OTAPA PRL 6135550100 x"), Some(Err(_))));
        assert!(matches!(parse("IOTA ACTIVATE"), Some(Err(_))));
        assert_eq!(parse("hello"), None);
    }
}
