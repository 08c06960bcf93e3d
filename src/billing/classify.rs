//! Sorts one attempt's result into a definite answer, a reason to retry, or
//! a broken exchange; kept apart from the HTTP code so every row of the
//! protocol table can be tested without a server.

use reqwest::StatusCode;

use super::error::BillingError;
use super::order::BillingOutcome;
use super::wire::GatewayReply;

/// How much of an unreadable body goes into an error, enough to recognise
/// a proxy's error page without flooding the logs.
const SNIPPET_CHARS: usize = 200;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Definite(BillingOutcome),
    /// Worth another attempt with the same key; the text says why.
    Transient {
        cause: String,
        /// Whether the gateway may have carried the order out all the same
        /// (the answer, not the order, was lost).
        may_be_done: bool,
    },
}

pub(super) fn answer(status: StatusCode, body: &[u8]) -> Result<Verdict, BillingError> {
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        return Ok(Verdict::Transient {
            cause: format!("HTTP {status}"),
            // These three say the order was not taken in; any other
            // server error may come after the gateway acted on it.
            may_be_done: ![
                StatusCode::REQUEST_TIMEOUT,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE,
            ]
            .contains(&status),
        });
    }
    let reply = serde_json::from_slice::<GatewayReply>(body).ok();
    let outcome = match (status.as_u16(), reply) {
        (200 | 201, Some(GatewayReply::Ok { transaction_id })) if !transaction_id.is_empty() => {
            BillingOutcome::Provisioned { transaction_id }
        }
        (400..=499, Some(GatewayReply::Failed { code, message })) => {
            BillingOutcome::Refused { code, message }
        }
        (200 | 201 | 400..=499, _) => {
            return Err(BillingError::Protocol(format!(
                "HTTP {status} with an unexpected body: {}",
                snippet(body)
            )))
        }
        _ => return Err(BillingError::Protocol(format!("unexpected HTTP {status}"))),
    };
    Ok(Verdict::Definite(outcome))
}

/// A transport failure is always worth retrying, except when the request
/// could not even be built, which no retry will change.
pub(super) fn transport(
    e: &reqwest::Error,
    timeout: std::time::Duration,
) -> Result<Verdict, BillingError> {
    if e.is_builder() {
        return Err(BillingError::Config(chain(e)));
    }
    // A connection never made carried no order; once the order may have
    // been sent, a lost answer may hide one the gateway carried out.
    if e.is_connect() {
        return Ok(Verdict::Transient {
            cause: chain(e),
            may_be_done: false,
        });
    }
    if e.is_timeout() {
        return Ok(Verdict::Transient {
            cause: format!("no answer within {timeout:?}"),
            may_be_done: true,
        });
    }
    Ok(Verdict::Transient {
        cause: chain(e),
        may_be_done: true,
    })
}

/// reqwest's own message is only "error sending request"; the cause that
/// tells an operator what to fix (refused, reset, DNS) is in the sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(SNIPPET_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(status: u16, body: &str) -> Result<Verdict, BillingError> {
        answer(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    const OK: &str = r#"{"result":"ok","transaction_id":"BG-000123"}"#;
    const FAILED: &str = r#"{"result":"failed","code":"E102","message":"credit limit exceeded"}"#;

    #[test]
    fn success_on_200_and_201() {
        for status in [200, 201] {
            assert_eq!(
                at(status, OK).unwrap(),
                Verdict::Definite(BillingOutcome::Provisioned {
                    transaction_id: "BG-000123".into()
                })
            );
        }
    }

    #[test]
    fn refusal_on_4xx_except_408_and_429() {
        for status in [400, 402, 404, 409, 422] {
            assert_eq!(
                at(status, FAILED).unwrap(),
                Verdict::Definite(BillingOutcome::Refused {
                    code: "E102".into(),
                    message: "credit limit exceeded".into()
                })
            );
        }
    }

    #[test]
    fn transient_on_408_429_and_5xx_whatever_the_body() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(at(status, FAILED), Ok(Verdict::Transient { .. })),
                "{status}"
            );
            assert!(
                matches!(at(status, "<html>"), Ok(Verdict::Transient { .. })),
                "{status}"
            );
        }
    }

    #[test]
    fn only_busy_answers_say_the_order_was_not_taken_in() {
        for (status, may_be_done) in [
            (408, false),
            (429, false),
            (503, false),
            (500, true),
            (502, true),
            (504, true),
        ] {
            assert!(
                matches!(at(status, ""), Ok(Verdict::Transient { may_be_done: m, .. }) if m == may_be_done),
                "{status}"
            );
        }
    }

    #[test]
    fn unreadable_or_contradictory_answers_are_protocol_errors() {
        for (status, body) in [
            (200, "not json"),
            (200, ""),
            (200, FAILED),
            (200, r#"{"result":"ok","transaction_id":""}"#),
            (200, r#"{"result":"ok"}"#),
            (404, "<html>Not Found</html>"),
            (422, OK),
            (202, OK),
            (204, ""),
            (302, ""),
        ] {
            assert!(
                matches!(at(status, body), Err(BillingError::Protocol(_))),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn snippets_are_cut() {
        let long = "x".repeat(1000);
        let s = snippet(long.as_bytes());
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(snippet(b"short"), "short");
    }
}
