//! The protocol's fixed names and answer body, shared by the client and the
//! simulator so the two cannot drift apart.

use serde::{Deserialize, Serialize};

pub(super) const ORDERS_PATH: &str = "/v1/service-orders";
pub(super) const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The JSON body of every answer, told apart by its `result` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub(super) enum GatewayReply {
    Ok { transaction_id: String },
    Failed { code: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::GatewayReply;

    #[test]
    fn bodies_match_the_documented_json() {
        let ok = GatewayReply::Ok {
            transaction_id: "BG-000123".into(),
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"result":"ok","transaction_id":"BG-000123"}"#
        );
        let failed: GatewayReply = serde_json::from_str(
            r#"{"result":"failed","code":"E102","message":"credit limit exceeded"}"#,
        )
        .unwrap();
        assert_eq!(
            failed,
            GatewayReply::Failed {
                code: "E102".into(),
                message: "credit limit exceeded".into()
            }
        );
    }
}
