//! `mdm notify`, `mdm push`, `mdm outbox` and `mdm smsc-sim`.

use clap::{Args, Subcommand};

use super::open;
use crate::config::Config;
use crate::messaging::codec::wsp::{media, MediaType};
use crate::messaging::content::{self, CpSettings};
use crate::messaging::outbox::{self, Filter};
use crate::messaging::provisioning;
use crate::messaging::smpp::test_smsc::{texts, TestSmsc, TestSmscOptions};
use crate::omadm::job::{self, JobKind};
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::Actor;
use crate::sim::omadm_handset::Handset;
use crate::timefmt;

#[derive(Subcommand)]
pub enum PushCommand {
    /// OMA CP settings push (BREW URL, data/WAP connectivity), NETWPIN-signed.
    Cp {
        #[arg(long)]
        device: String,
        #[arg(long, default_value = "")]
        brew_url: String,
        /// Packet data APN.
        #[arg(long, default_value = "")]
        apn: String,
        /// WAP proxy (IPv4) and port.
        #[arg(long, default_value = "")]
        proxy: String,
        #[arg(long, default_value = "")]
        proxy_port: String,
        #[arg(long, default_value = "")]
        homepage: String,
    },
    /// OMA CP bootstrap of the device's OMA-DM account.
    Bootstrap {
        #[arg(long)]
        device: String,
        /// The OMA-DM server URL the handset should use (default: MDM_PUBLIC_URL/omadm,
        /// else http://MDM_BIND/omadm).
        #[arg(long)]
        server_url: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// The latest messages and their states.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        mdn: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One message with its decoded payload.
    Show { id: i64 },
    /// Queue a failed message again.
    Retry { id: i64 },
}

#[derive(Args)]
pub struct SmscSimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2775")]
    listen: std::net::SocketAddr,
    #[arg(long, default_value = "mdm")]
    system_id: String,
    #[arg(long, default_value = "secret")]
    password: String,
    /// Play the handsets too: answer each OMA-DM notification as the
    /// registered device with that MDN would, calling this server back.
    #[arg(long)]
    answer_as_handsets: Option<String>,
}

pub(super) fn device_id(config: &Config, device: &str) -> anyhow::Result<(crate::db::Db, i64)> {
    let db = open(config)?;
    let id = {
        let mut conn = db.get()?;
        lookup::find(&mut conn, &DeviceKey::parse(device)?)?.id
    };
    Ok((db, id))
}

pub(super) fn sender_hint(config: &Config) {
    if config.smsc.is_none() {
        eprintln!("note: MDM_SMSC_URL is not set here; a server with an SMSC configured sends it");
    }
}

pub fn notify(config: &Config, device: &str, kind: &str) -> anyhow::Result<()> {
    let kind = JobKind::parse(kind).ok_or_else(|| anyhow::anyhow!("--job is refresh or fota"))?;
    let (db, id) = device_id(config, device)?;
    let mut conn = db.get()?;
    let vault = super::vault(config, &mut conn)?;
    let (job, msg) = job::notify(
        &mut conn,
        &vault,
        id,
        kind,
        &Actor::System("cli"),
        config.sms_max_parts,
    )?;
    println!(
        "job {} ({}) queued: session id {:04X}, notification message {} to {} ({})",
        job.id, job.kind, job.dm_session_id, msg.id, msg.mdn, msg.state
    );
    sender_hint(config);
    Ok(())
}

pub fn push(config: &Config, command: PushCommand) -> anyhow::Result<()> {
    let msg = match command {
        PushCommand::Cp {
            device,
            brew_url,
            apn,
            proxy,
            proxy_port,
            homepage,
        } => {
            let (db, id) = device_id(config, &device)?;
            let mut conn = db.get()?;
            let settings = CpSettings {
                name: String::new(),
                brew_url,
                apn,
                proxy,
                proxy_port,
                homepage,
            };
            provisioning::push_settings(
                &mut conn,
                id,
                &settings,
                &Actor::System("cli"),
                config.sms_max_parts,
            )?
        }
        PushCommand::Bootstrap { device, server_url } => {
            // As `otapa prl` builds its call-back: the public URL, else the
            // address the server listens on.
            let url = server_url.unwrap_or_else(|| {
                let base = config.public_url.clone().unwrap_or_else(|| {
                    format!("http://{}", config.bind.replace("0.0.0.0", "127.0.0.1"))
                });
                format!("{}/omadm", base.trim_end_matches('/'))
            });
            let (db, id) = device_id(config, &device)?;
            let mut conn = db.get()?;
            let vault = super::vault(config, &mut conn)?;
            provisioning::push_bootstrap(
                &mut conn,
                &vault,
                id,
                &url,
                &Actor::System("cli"),
                config.sms_max_parts,
            )?
        }
    };
    println!(
        "message {} queued to {}: {} ({}, {} short message(s))",
        msg.id,
        msg.mdn,
        msg.summary,
        msg.state,
        content::parts_needed(&msg)
    );
    sender_hint(config);
    Ok(())
}

pub fn outbox(config: &Config, command: OutboxCommand) -> anyhow::Result<()> {
    let db = open(config)?;
    let mut conn = db.get()?;
    match command {
        OutboxCommand::List {
            json,
            mdn,
            state,
            kind,
            limit,
        } => {
            if let Some(s) = &state {
                if !outbox::STATES.contains(&s.as_str()) {
                    anyhow::bail!("--state is one of {}", outbox::STATES.join(", "));
                }
            }
            // A filter that cannot match is a mistake, not an empty outbox.
            if let Some(k) = &kind {
                if outbox::Kind::parse(k).is_none() {
                    let kinds: Vec<&str> = outbox::Kind::ALL.iter().map(|k| k.as_str()).collect();
                    anyhow::bail!("--kind is one of {}", kinds.join(", "));
                }
            }
            let mdn = match mdn {
                Some(m) => Some(
                    crate::registry::identifiers::Mdn::parse(&m)
                        .map_err(|e| anyhow::anyhow!("--mdn: {e}"))?
                        .to_string(),
                ),
                None => None,
            };
            let rows = outbox::list(
                &mut conn,
                &Filter {
                    mdn,
                    kind,
                    state,
                    device_id: None,
                },
                limit.clamp(1, 10_000),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!(
                "{:>8}  {:<16} {:<12} {:<10} {:>3}  {:<20} SMSC ID / ERROR",
                "ID", "KIND", "MDN", "STATE", "TRY", "UPDATED"
            );
            for r in rows {
                let note = if r.last_error.is_empty() {
                    r.smsc_message_id.clone().unwrap_or_default()
                } else {
                    r.last_error.clone()
                };
                println!(
                    "{:>8}  {:<16} {:<12} {:<10} {:>3}  {:<20} {}",
                    r.id,
                    r.kind,
                    r.mdn,
                    r.state,
                    r.attempts,
                    timefmt::utc(r.updated_at),
                    note
                );
            }
            Ok(())
        }
        OutboxCommand::Show { id } => {
            let Some(r) = outbox::get(&mut conn, id)? else {
                anyhow::bail!("no message {id}");
            };
            println!("message {} to {} — {}", r.id, r.mdn, r.summary);
            let error = if r.last_error.is_empty() {
                String::new()
            } else {
                format!("; {}", r.last_error)
            };
            println!(
                "state {} after {} attempt(s); SMSC id {}{error}",
                r.state,
                r.attempts,
                r.smsc_message_id.as_deref().unwrap_or("-"),
            );
            println!("{}", content::describe(&r));
            Ok(())
        }
        OutboxCommand::Retry { id } => {
            let m = outbox::retry(&mut conn, id)?;
            println!("message {} to {} queued again", m.id, m.mdn);
            sender_hint(config);
            Ok(())
        }
    }
}

/// A stand-alone SMSC for trying the platform by hand: accepts every
/// message, acknowledges with delivery receipts, and prints what arrived.
pub fn smsc_sim(config: &Config, args: SmscSimArgs) -> anyhow::Result<()> {
    let mut handsets = match &args.answer_as_handsets {
        Some(server) => {
            let db = open(config)?;
            let vault = super::vault(config, &mut *db.get()?)?;
            Some(SimulatedHandsets::new(
                db,
                server.trim_end_matches('/').to_string(),
                std::sync::Arc::new(vault),
            ))
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let smsc = TestSmsc::start(
            args.listen,
            TestSmscOptions {
                system_id: args.system_id,
                password: args.password,
            },
        )
        .await?;
        println!("test SMSC listening; set MDM_SMSC_URL={}", smsc.url());
        let mut inbox = crate::sim::sms_inbox::SmsInbox::new();
        let mut seen = 0;
        let mut texts_seen = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            }
            let accepted = smsc.accepted();
            for s in accepted.iter().skip(seen) {
                println!(
                    "submit_sm {} to {} ({} octets)",
                    s.message_id,
                    s.destination_addr,
                    s.short_message.len()
                );
                if texts::is_text(s) {
                    match texts::part_of(s) {
                        Ok(None) => println!(
                            "  text: {}",
                            crate::messaging::codec::text::decode(s.data_coding, &s.short_message)
                        ),
                        Ok(Some(p)) => println!(
                            "  text part {} of {} (reference {}), delivered as TP-UDL {} TP-UD {}",
                            p.sequence,
                            p.total,
                            p.reference,
                            p.tp_udl,
                            hex::encode_upper(&p.tp_ud)
                        ),
                        Err(e) => println!("  text part does not decode: {e}"),
                    }
                    continue;
                }
                match inbox.receive(&s.destination_addr, &s.short_message) {
                    Ok(Some(p)) => {
                        if let Some(handsets) = &mut handsets {
                            if let Some(href) = crate::sim::iota_client::push_href(&p.push)
                                .filter(|h| h.contains(crate::iota::driver::CALLBACK_PATH))
                            {
                                handsets.deliver(&p.destination, Errand::FollowCallback(href));
                            }
                            if p.push.content_type.media
                                == MediaType::WellKnown(media::SYNCML_NOTIFICATION)
                            {
                                handsets.deliver(
                                    &p.destination,
                                    Errand::AnswerNotification(p.push.body.clone()),
                                );
                            }
                        }
                        let pdu = p.push.encode().unwrap_or_default();
                        for line in content::describe_payload(&pdu, Some(2948)).lines() {
                            println!("  {line}");
                        }
                    }
                    Ok(None) => println!("  (part of a longer message)"),
                    Err(e) => println!("  does not decode as WAP push: {e}"),
                }
            }
            seen = accepted.len();
            let whole = texts::reassemble(&accepted);
            for t in whole.iter().skip(texts_seen).filter(|t| t.parts > 1) {
                println!(
                    "text to {} reassembled from {} parts: {}",
                    t.destination, t.parts, t.text
                );
            }
            texts_seen = whole.len();
        }
        smsc.stop();
        anyhow::Ok(())
    })
}

/// What a message asks of the simulated handset it reached.
enum Errand {
    /// Start the OMA-DM session an OMA-DM notification (package #0) asks for.
    AnswerNotification(Vec<u8>),
    /// Follow the IOTA call-back URL of a WAP Push SI or SL.
    FollowCallback(String),
}

/// How long one simulated session may take before its handset gives up on
/// it and turns to the next message, so that a server that never answers
/// does not leave the handset deaf for good.
const SESSION_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The handsets `smsc-sim --answer-as-handsets` plays. A real handset runs
/// one data session at a time and reads the next message once the current
/// session has ended; two OMA-DM sessions of one handset at once would race
/// on its nonces and fail authentication. So each MDN has a queue of its
/// own, worked through in the order the messages arrived, while different
/// handsets still run side by side.
struct SimulatedHandsets {
    db: crate::db::Db,
    server: String,
    vault: std::sync::Arc<crate::secrets::Vault>,
    queues: std::collections::HashMap<String, tokio::sync::mpsc::UnboundedSender<Errand>>,
}

impl SimulatedHandsets {
    fn new(
        db: crate::db::Db,
        server: String,
        vault: std::sync::Arc<crate::secrets::Vault>,
    ) -> SimulatedHandsets {
        SimulatedHandsets {
            db,
            server,
            vault,
            queues: std::collections::HashMap::new(),
        }
    }

    /// Puts `errand` at the end of the queue of the handset with `mdn`.
    fn deliver(&mut self, mdn: &str, errand: Errand) {
        let errand = match self.queues.get(mdn) {
            Some(queue) => match queue.send(errand) {
                Ok(()) => return,
                // The handset's worker has ended (it cannot while its queue
                // is held, but a new one costs nothing): start it again.
                Err(tokio::sync::mpsc::error::SendError(errand)) => errand,
            },
            None => errand,
        };
        let (queue, errands) = tokio::sync::mpsc::unbounded_channel();
        // Cannot fail: the receiver is alive, handed to the worker below.
        let _ = queue.send(errand);
        let (db, vault, server, handset) = (
            self.db.clone(),
            self.vault.clone(),
            self.server.clone(),
            mdn.to_string(),
        );
        // The account is read when a session starts, not when its message
        // arrived: the session before may have changed the nonces.
        let run = move |errand| -> futures_util::future::BoxFuture<'static, ()> {
            match errand {
                Errand::AnswerNotification(package0) => Box::pin(answer(
                    db.clone(),
                    vault.clone(),
                    server.clone(),
                    handset.clone(),
                    package0,
                )),
                Errand::FollowCallback(href) => {
                    Box::pin(answer_iota(db.clone(), handset.clone(), href))
                }
            }
        };
        tokio::spawn(work_through(mdn.to_string(), errands, run, SESSION_LIMIT));
        self.queues.insert(mdn.to_string(), queue);
    }
}

/// One handset's sessions (`run` plays one), one after the other in the
/// order their messages arrived. Each runs as a task of its own and is
/// awaited, so that one that fails, panics or overruns `limit` still lets
/// the next message be answered.
async fn work_through<E, F, S>(
    mdn: String,
    mut errands: tokio::sync::mpsc::UnboundedReceiver<E>,
    run: F,
    limit: std::time::Duration,
) where
    F: Fn(E) -> S,
    S: std::future::Future<Output = ()> + Send + 'static,
{
    while let Some(errand) = errands.recv().await {
        let session = tokio::spawn(run(errand));
        let abort = session.abort_handle();
        match tokio::time::timeout(limit, session).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => println!("  handset {mdn}: the session ended abnormally: {e}"),
            Err(_) => {
                abort.abort();
                println!(
                    "  handset {mdn}: gave up on a session after {} s",
                    limit.as_secs()
                );
            }
        }
    }
}

/// The simulated IOTA handset with `mdn` follows the call-back URL of a
/// WAP Push SI (star-code activation) or SL (PRL download).
async fn answer_iota(db: crate::db::Db, mdn: String, href: String) {
    let found = db
        .run(move |c| -> anyhow::Result<_> { Ok(lookup::find(c, &DeviceKey::parse(&mdn)?)?) })
        .await;
    let d = match found {
        Ok(d) => d,
        Err(e) => {
            println!("  handset: cannot answer: {e}");
            return;
        }
    };
    let id = d.meid.clone().or_else(|| d.esn.clone()).unwrap_or_default();
    let identity = match super::iota::sim_identity(&id, &d.make, &d.model) {
        Ok(i) => i,
        Err(e) => {
            println!("  handset {}: {e}", d.label());
            return;
        }
    };
    let mut handset = crate::sim::iota_handset::IotaHandset::new(
        identity,
        crate::sim::iota_handset::IotaFault::None,
    );
    let trace = match crate::sim::trace::Trace::new(None) {
        Ok(t) => t,
        Err(e) => {
            println!("  handset: {e}");
            return;
        }
    };
    match crate::sim::iota_client::run(&mut handset, &href, true, &trace).await {
        Ok(o) => println!("  handset {} followed {href}: {o}", d.label()),
        Err(e) => println!("  handset {}: {e}", d.label()),
    }
}

/// The simulated handset with `mdn` answers a notification.
async fn answer(
    db: crate::db::Db,
    vault: std::sync::Arc<crate::secrets::Vault>,
    server: String,
    mdn: String,
    package0: Vec<u8>,
) {
    let found = db
        .run(move |c| -> anyhow::Result<_> {
            let d = lookup::find(c, &DeviceKey::parse(&mdn)?)?;
            let acct = crate::omadm::account::get(c, &vault, d.id)?
                .ok_or_else(|| anyhow::anyhow!("device {} has no OMA-DM credentials", d.id))?;
            Ok((d, acct))
        })
        .await;
    let (d, acct) = match found {
        Ok(v) => v,
        Err(e) => {
            println!("  handset: cannot answer: {e}");
            return;
        }
    };
    let dev_id = crate::omadm::engine::dev_id_of(&d);
    let mut handset = Handset {
        server,
        fota_path: String::new(),
        dev_id: dev_id.clone(),
        username: dev_id,
        password: acct.client_password.clone(),
        man: d.make.clone(),
        model: d.model.clone(),
        firmware: d.firmware_version.clone(),
        encoding: crate::omadm::syncml::Encoding::Wbxml,
        fail: None,
        gateway_header: None,
        timings: None,
        server_password: Some(acct.server_password.clone()),
        server_nonce: acct.server_nonce_bytes(),
        server_id: Some(acct.server_id.clone()),
        client_nonce: Default::default(),
    };
    let trace = match crate::sim::trace::Trace::new(None) {
        Ok(t) => t,
        Err(e) => {
            println!("  handset: {e}");
            return;
        }
    };
    match handset.run_notified(&package0, &trace).await {
        Ok(o) => println!(
            "  handset {} called back with session id {}{}",
            d.label(),
            o.session_id,
            o.fota.map(|f| format!("; {f}")).unwrap_or_default()
        ),
        Err(e) => println!("  handset {}: {e}", d.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::work_through;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// What the sessions played did: (errand, started or ended).
    type Log = Arc<Mutex<Vec<(u32, &'static str)>>>;

    fn session(log: Log, errand: u32) -> futures_util::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            log.lock().unwrap().push((errand, "start"));
            tokio::time::sleep(Duration::from_millis(30)).await;
            match errand {
                // One session panics, one never ends: the next still runs.
                2 => panic!("session {errand} fails"),
                4 => std::future::pending::<()>().await,
                _ => log.lock().unwrap().push((errand, "end")),
            }
        })
    }

    #[tokio::test]
    async fn one_handset_runs_its_sessions_one_at_a_time_in_order_past_failures() {
        let log: Log = Arc::default();
        let (queue, errands) = tokio::sync::mpsc::unbounded_channel();
        for errand in 1..=5 {
            queue.send(errand).unwrap();
        }
        drop(queue);
        let played = log.clone();
        work_through(
            "3125550100".into(),
            errands,
            move |e| session(played.clone(), e),
            Duration::from_millis(300),
        )
        .await;
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                (1, "start"),
                (1, "end"),
                (2, "start"),
                (3, "start"),
                (3, "end"),
                (4, "start"),
                (5, "start"),
                (5, "end"),
            ]
        );
    }
}
