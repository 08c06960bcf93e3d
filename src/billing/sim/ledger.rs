//! The simulator's memory and rules, free of HTTP so they can be tested
//! directly and the handler stays a thin translation.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::super::order::{Action, ServiceOrder};
use super::super::wire::GatewayReply;
use super::{RecordedOrder, SimMode};

/// A well-formed request: the only kind that is recorded.
#[derive(Debug, Clone)]
pub(super) struct Incoming {
    pub key: String,
    pub order: ServiceOrder,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Answer {
        status: u16,
        body: GatewayReply,
    },
    /// Keep the connection open and never answer.
    Hang,
}

impl Reply {
    pub(super) fn failed(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::Answer {
            status,
            body: GatewayReply::Failed {
                code: code.to_string(),
                message: message.into(),
            },
        }
    }

    fn ok(transaction_id: String) -> Reply {
        Reply::Answer {
            status: 200,
            body: GatewayReply::Ok { transaction_id },
        }
    }

    fn unavailable() -> Reply {
        Reply::failed(503, "E503", "service unavailable")
    }
}

/// What a key was first answered with, and for which order.
struct Answered {
    order: ServiceOrder,
    reply: Reply,
}

pub(super) struct Ledger {
    mode: SimMode,
    fail_next: usize,
    orders: Vec<RecordedOrder>,
    answered: HashMap<String, Answered>,
    /// `(mdn, service)` → the transaction that added it; sorted so
    /// `provisioned()` reads the same on every run.
    provisioned: BTreeMap<(String, String), String>,
    last_transaction: u64,
}

/// Only a bug can panic under the lock; if one does, a simulator that
/// carries on serves a test better than one failing every later request.
pub(super) fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ledger {
    pub(super) fn new(mode: SimMode) -> Ledger {
        Ledger {
            mode,
            fail_next: 0,
            orders: Vec::new(),
            answered: HashMap::new(),
            provisioned: BTreeMap::new(),
            last_transaction: 0,
        }
    }

    pub(super) fn set_mode(&mut self, mode: SimMode) {
        self.mode = mode;
    }

    pub(super) fn fail_next(&mut self, n: usize) {
        self.fail_next = n;
    }

    pub(super) fn orders(&self) -> &[RecordedOrder] {
        &self.orders
    }

    pub(super) fn provisioned(&self) -> Vec<(String, String)> {
        self.provisioned.keys().cloned().collect()
    }

    /// `incoming` is the parsed request, or the answer to a malformed one.
    pub(super) fn handle(&mut self, incoming: Result<Incoming, Reply>, at: SystemTime) -> Reply {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            if let Ok(request) = incoming {
                self.record(request, at, false);
            }
            return Reply::unavailable();
        }
        let request = match incoming {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        if let Some(earlier) = self.answered.get(&request.key) {
            let (replay, reply) = if earlier.order == request.order {
                (true, earlier.reply.clone())
            } else {
                let reply = Reply::failed(
                    409,
                    "E409",
                    "Idempotency-Key already used for a different order",
                );
                (false, reply)
            };
            self.record(request, at, replay);
            return reply;
        }
        let reply = match &self.mode {
            // Neither is an answer to the order, so the key stays free.
            SimMode::Error500 => {
                self.record(request, at, false);
                return Reply::unavailable();
            }
            SimMode::Timeout => {
                self.record(request, at, false);
                return Reply::Hang;
            }
            SimMode::Fail { code, message } => Reply::failed(422, code, message.clone()),
            SimMode::Succeed => self.apply(&request.order),
        };
        self.answered.insert(
            request.key.clone(),
            Answered {
                order: request.order.clone(),
                reply: reply.clone(),
            },
        );
        self.record(request, at, false);
        reply
    }

    fn apply(&mut self, order: &ServiceOrder) -> Reply {
        let line = (order.mdn.clone(), order.service.clone());
        match order.action {
            Action::Add => {
                if let Some(id) = self.provisioned.get(&line) {
                    return Reply::ok(id.clone());
                }
                let id = self.next_transaction();
                self.provisioned.insert(line, id.clone());
                Reply::ok(id)
            }
            Action::Remove => {
                if self.provisioned.remove(&line).is_none() {
                    return Reply::failed(
                        422,
                        "E404",
                        format!("{} is not provisioned for {}", order.service, order.mdn),
                    );
                }
                Reply::ok(self.next_transaction())
            }
        }
    }

    fn next_transaction(&mut self) -> String {
        self.last_transaction += 1;
        format!("BG-{:06}", self.last_transaction)
    }

    fn record(&mut self, request: Incoming, at: SystemTime, replayed: bool) {
        self.orders.push(RecordedOrder {
            idempotency_key: request.key,
            order: request.order,
            at,
            replayed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(action: Action, service: &str) -> ServiceOrder {
        ServiceOrder {
            mdn: "3125550100".into(),
            account_id: "ACC-1".into(),
            service: service.into(),
            action,
            reference: "feature-activation:42".into(),
        }
    }

    fn send(ledger: &mut Ledger, key: &str, order: ServiceOrder) -> Reply {
        let incoming = Incoming {
            key: key.into(),
            order,
        };
        ledger.handle(Ok(incoming), SystemTime::now())
    }

    fn ok(id: &str) -> Reply {
        Reply::ok(id.into())
    }

    #[test]
    fn adding_twice_under_new_keys_keeps_one_transaction() {
        let mut l = Ledger::new(SimMode::Succeed);
        assert_eq!(
            send(&mut l, "a", order(Action::Add, "web")),
            ok("BG-000001")
        );
        assert_eq!(
            send(&mut l, "b", order(Action::Add, "web")),
            ok("BG-000001")
        );
        assert_eq!(
            send(&mut l, "c", order(Action::Add, "mms")),
            ok("BG-000002")
        );
        assert_eq!(l.provisioned().len(), 2);
    }

    #[test]
    fn removing_takes_a_new_transaction_and_missing_is_e404() {
        let mut l = Ledger::new(SimMode::Succeed);
        send(&mut l, "a", order(Action::Add, "web"));
        assert_eq!(
            send(&mut l, "b", order(Action::Remove, "web")),
            ok("BG-000002")
        );
        let again = send(&mut l, "c", order(Action::Remove, "web"));
        assert!(matches!(
            again,
            Reply::Answer { status: 422, body: GatewayReply::Failed { ref code, .. } } if code == "E404"
        ));
        assert!(l.provisioned().is_empty());
    }

    #[test]
    fn a_refusal_is_replayed_even_after_the_mode_changes() {
        let mut l = Ledger::new(SimMode::Fail {
            code: "E102".into(),
            message: "credit limit exceeded".into(),
        });
        let first = send(&mut l, "a", order(Action::Add, "web"));
        l.set_mode(SimMode::Succeed);
        assert_eq!(send(&mut l, "a", order(Action::Add, "web")), first);
        assert!(l.provisioned().is_empty());
        assert_eq!(
            l.orders().iter().map(|o| o.replayed).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn unanswered_and_503_requests_leave_the_key_free() {
        let mut l = Ledger::new(SimMode::Timeout);
        assert_eq!(send(&mut l, "a", order(Action::Add, "web")), Reply::Hang);
        l.set_mode(SimMode::Error500);
        assert!(matches!(
            send(&mut l, "a", order(Action::Add, "web")),
            Reply::Answer { status: 503, .. }
        ));
        l.set_mode(SimMode::Succeed);
        assert_eq!(
            send(&mut l, "a", order(Action::Add, "web")),
            ok("BG-000001")
        );
        assert!(l.orders().iter().all(|o| !o.replayed));
    }

    #[test]
    fn fail_next_comes_first_then_runs_out() {
        let mut l = Ledger::new(SimMode::Succeed);
        send(&mut l, "a", order(Action::Add, "web"));
        l.fail_next(1);
        let bad = Reply::failed(400, "E400", "bad");
        assert!(matches!(
            l.handle(Err(bad.clone()), SystemTime::now()),
            Reply::Answer { status: 503, .. }
        ));
        assert_eq!(l.handle(Err(bad.clone()), SystemTime::now()), bad);
        assert_eq!(
            send(&mut l, "a", order(Action::Add, "web")),
            ok("BG-000001")
        );
    }

    #[test]
    fn a_key_reused_for_another_order_is_a_conflict() {
        let mut l = Ledger::new(SimMode::Succeed);
        send(&mut l, "a", order(Action::Add, "web"));
        let reply = send(&mut l, "a", order(Action::Remove, "web"));
        assert!(matches!(reply, Reply::Answer { status: 409, .. }));
        assert_eq!(l.provisioned().len(), 1);
    }
}
