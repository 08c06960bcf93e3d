//! `mdm campaign`: plan, start and follow FOTA campaigns from a script.

use clap::Subcommand;

use crate::config::Config;
use crate::fota::campaign::{self, Action, Campaign, CampaignState, Plan, Progress};
use crate::fota::campaign_run::{self, Ticked};
use crate::fota::campaign_schedule::{self, Schedule, Window, Zone};
use crate::registry::Actor;

#[derive(Subcommand)]
pub enum CampaignCommand {
    /// Plan a campaign for every device at one make, model and version.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        make: String,
        #[arg(long)]
        model: String,
        /// The version the devices are at; a released package must update it.
        #[arg(long)]
        from: String,
        /// Devices notified together.
        #[arg(long, default_value_t = 100)]
        wave_size: i32,
        /// A smaller first wave (a canary) whose outcome decides whether the rest go ahead.
        #[arg(long)]
        first_wave: Option<i32>,
        /// A canary of this many devices: wave 1 proves the package before
        /// wave 2 goes out, even when as large as the other waves.
        #[arg(long)]
        canary: Option<i32>,
        /// Percent of a wave's updates that may fail before the next wave is held.
        #[arg(long, default_value_t = 10)]
        threshold: i32,
        /// Minutes a notified handset has to call back before it counts as
        /// unanswered (5 to 1440).
        #[arg(long, default_value_t = campaign::DEFAULT_ANSWER_WITHIN_MINS)]
        answer_within: i32,
        /// Notify only between these times each day, e.g. 01:00-05:00.
        #[arg(long)]
        window: Option<String>,
        /// The IANA time zone the window is kept in (default UTC).
        #[arg(long)]
        zone: Option<String>,
        /// Notify nobody before this time: UTC, e.g. "2026-12-01 02:00", or
        /// with an offset from UTC, e.g. 2026-12-01T02:00+01:00.
        #[arg(long)]
        not_before: Option<String>,
        /// Only lines whose MDN starts with these digits (an area code).
        #[arg(long)]
        mdn_prefix: Option<String>,
        /// Only lines of this billing account.
        #[arg(long)]
        account: Option<String>,
        /// Start it at once (the first wave is queued now).
        #[arg(long)]
        start: bool,
    },
    /// Campaigns, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One campaign and its waves.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Start a planned campaign: its first wave is notified now.
    Start { id: i64 },
    /// Hold the next waves; notified devices finish their updates.
    Pause { id: i64 },
    /// Go on with a paused campaign (one the failure threshold held, too).
    Resume { id: i64 },
    /// Drop the devices not notified yet.
    Cancel { id: i64 },
    /// Queue the devices that did not answer again, as one more wave.
    Renotify { id: i64 },
    /// Queue the skipped devices again, in waves after the last (a completed
    /// campaign runs again for them).
    Requeue {
        id: i64,
        /// The re-queue round the campaign was read at (`requeue_round` in
        /// `show --json`); a round already done queues nothing. Default: the
        /// campaign's round now.
        #[arg(long)]
        round: Option<i32>,
    },
    /// Change when a campaign may notify; options left out keep their value.
    Schedule {
        id: i64,
        /// Daily window, e.g. 01:00-05:00; `any` for any time of day.
        #[arg(long)]
        window: Option<String>,
        /// The IANA time zone the window is kept in; `UTC` for UTC.
        #[arg(long)]
        zone: Option<String>,
        /// No notification before this time (UTC, or with an offset from UTC:
        /// 2026-12-01T02:00+01:00); `now` to drop the wait.
        #[arg(long)]
        not_before: Option<String>,
        /// Minutes a notified handset has to call back (5 to 1440).
        #[arg(long)]
        answer_within: Option<i32>,
    },
}

const CLI: Actor = Actor::System("cli");

pub fn run(config: &Config, command: CampaignCommand) -> anyhow::Result<()> {
    let db = super::open(config)?;
    let mut conn = db.get()?;
    match command {
        CampaignCommand::Create {
            name,
            make,
            model,
            from,
            wave_size,
            first_wave,
            canary,
            threshold,
            answer_within,
            window,
            zone,
            not_before,
            mdn_prefix,
            account,
            start,
        } => {
            let window = window
                .map(|w| Window::parse(&w))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let not_before = not_before
                .map(|t| campaign_schedule::parse_time(&t))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let plan = Plan {
                name,
                make,
                model,
                from_version: from,
                first_wave_size: first_wave,
                canary,
                wave_size,
                failure_threshold: threshold,
                schedule: in_flags(Schedule {
                    answer_within_mins: Some(answer_within),
                    window,
                    zone: Zone::parse(zone.as_deref().unwrap_or_default())
                        .map_err(anyhow::Error::msg)?,
                    not_before,
                })?,
                population: campaign::Population::new(mdn_prefix, account),
            };
            let c = campaign::create(&mut conn, &CLI, &plan)?;
            println!(
                "campaign {} planned: {} device(s) on {} in {} wave(s) of up to {}{}",
                c.id,
                c.devices,
                c.path_label(),
                c.waves,
                c.wave_size,
                if c.first_wave_size != c.wave_size {
                    format!(", the first of {}", c.first_wave_size)
                } else {
                    String::new()
                }
            );
            // Said before any start: devices a notification cannot reach
            // are skipped, and a campaign of only those updates nobody.
            if let Some(why) = campaign::reach(&mut conn, c.id)?.summary() {
                eprintln!("warning: {why}");
            }
            if start {
                act(config, &mut conn, c.id, Action::Start)?;
            }
        }
        CampaignCommand::List { json } => {
            let listed = campaign::list(&mut conn, 200)?;
            let tallies =
                campaign::overall(&mut conn, &listed.iter().map(|c| c.id).collect::<Vec<_>>())?;
            let mut rows = Vec::new();
            for c in listed {
                // Counted as `show` counts them: a device deleted or purged
                // since the plan has left the campaign.
                let (finished, total) = tallies
                    .get(&c.id)
                    .map_or((0, 0), |t| (t.finished(), t.total()));
                let tally = tallies.get(&c.id).cloned().unwrap_or_default();
                if json {
                    rows.push(serde_json::json!({
                        "id": c.id,
                        "state": c.state,
                        "wave": c.wave,
                        "waves": c.waves,
                        "finished": finished,
                        "total": total,
                        "path": c.path_label(),
                        "name": c.name,
                        "outcome": c.outcome(&tally),
                    }));
                    continue;
                }
                println!(
                    "{:>5}  {:<10} wave {}/{}  {} of {} finished  {}  {}",
                    c.id,
                    c.state_label(&tally),
                    c.wave,
                    c.waves,
                    finished,
                    total,
                    c.path_label(),
                    c.name
                );
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            }
        }
        CampaignCommand::Show { id, json } => {
            let c = campaign::get(&mut conn, id)?;
            let p = campaign::progress(&mut conn, &c)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "campaign": c,
                        "progress": p,
                        // As the API names it: why a running campaign
                        // notifies nobody now, and when it will.
                        "waiting": c.waiting(crate::db::now_ms()),
                        "outcome": c.outcome(&p.overall),
                    }))?
                );
            } else {
                print_campaign(&c, &p);
            }
        }
        CampaignCommand::Start { id } => act(config, &mut conn, id, Action::Start)?,
        CampaignCommand::Pause { id } => act(config, &mut conn, id, Action::Pause)?,
        CampaignCommand::Resume { id } => act(config, &mut conn, id, Action::Resume)?,
        CampaignCommand::Cancel { id } => act(config, &mut conn, id, Action::Cancel)?,
        CampaignCommand::Renotify { id } => act(config, &mut conn, id, Action::Renotify)?,
        CampaignCommand::Requeue { id, round } => requeue(config, &mut conn, id, round)?,
        CampaignCommand::Schedule {
            id,
            window,
            zone,
            not_before,
            answer_within,
        } => {
            let mut schedule = campaign::get(&mut conn, id)?.schedule();
            if let Some(w) = window {
                schedule.window = match w.trim() {
                    "any" | "" => None,
                    w => Some(Window::parse(w).map_err(anyhow::Error::msg)?),
                };
                if schedule.window.is_none() {
                    // The stored zone was the dropped window's clock.
                    schedule.zone = Zone::utc();
                }
            }
            if let Some(z) = zone {
                schedule.zone = Zone::parse(&z).map_err(anyhow::Error::msg)?;
            }
            if let Some(t) = not_before {
                schedule.not_before = match t.trim() {
                    "now" | "" => None,
                    t => Some(campaign_schedule::parse_time(t).map_err(anyhow::Error::msg)?),
                };
            }
            if answer_within.is_some() {
                schedule.answer_within_mins = answer_within;
            }
            let schedule = in_flags(schedule)?;
            let c = campaign::reschedule(&mut conn, &CLI, id, &schedule)?;
            println!("campaign {} runs {}", c.id, c.schedule_label());
            if let Some(why) = c.waiting(crate::db::now_ms()) {
                println!("{why}");
            }
        }
    }
    Ok(())
}

/// The schedule's rules, worded in the options an operator typed.
fn in_flags(schedule: Schedule) -> anyhow::Result<Schedule> {
    match schedule.problem() {
        Some(("window_zone", _)) => anyhow::bail!(
            "--zone {} needs --window: the time zone is the clock a daily window is kept on; \
             give --window HH:MM-HH:MM too, or leave --zone out",
            schedule.zone.label()
        ),
        Some((_, why)) => anyhow::bail!(why),
        None => Ok(schedule),
    }
}

fn act(
    config: &Config,
    conn: &mut crate::db::DbConnection,
    id: i64,
    action: Action,
) -> anyhow::Result<()> {
    // Checked before the action, so a node with the wrong key changes nothing.
    let vault = match action {
        Action::Start | Action::Resume | Action::Renotify => Some(super::vault(config, conn)?),
        Action::Pause | Action::Cancel => None,
    };
    let mut c = campaign::act(conn, &CLI, id, action)?;
    let mut t = Ticked::default();
    if let Some(vault) = &vault {
        campaign_run::step(conn, vault, config.sms_max_parts, id, &mut t)?;
        // Read back: that wave may have held or completed it already.
        c = campaign::get(conn, id)?;
    }
    match c.state() {
        CampaignState::Running => println!("campaign {} is {}", c.id, c.state),
        _ if c.detail.is_empty() => println!("campaign {} is {}", c.id, c.state),
        _ => println!("campaign {} is {} ({})", c.id, c.state, c.detail),
    }
    if let Some(why) = c.waiting(crate::db::now_ms()) {
        println!("{why}");
    }
    if action == Action::Renotify && c.state() == CampaignState::Paused {
        println!(
            "the unanswered devices are queued again as wave {}; the campaign is paused: `mdm campaign resume {}` sends them (after any waves still waiting)",
            c.waves, c.id
        );
    } else if vault.is_some() {
        println!(
            "{} device(s) notified now, {} skipped; the server's scheduler sends the next waves",
            t.notified, t.skipped
        );
        if config.smsc.is_none() && t.notified > 0 {
            eprintln!(
                "note: MDM_SMSC_URL is not set here; a server with an SMSC configured sends the notifications"
            );
        }
    }
    Ok(())
}

fn requeue(
    config: &Config,
    conn: &mut crate::db::DbConnection,
    id: i64,
    round: Option<i32>,
) -> anyhow::Result<()> {
    // Checked first, so a node with the wrong key changes nothing.
    let vault = super::vault(config, conn)?;
    let round = match round {
        Some(r) => r,
        None => campaign::get(conn, id)?.requeue_round,
    };
    let r = campaign::requeue_skipped(conn, &CLI, id, round)?;
    let restarted = r.restarted();
    let mut c = r.campaign;
    if r.repeated {
        println!(
            "campaign {}: round {round} was already re-queued (it is at round {}); nothing queued again",
            c.id, c.requeue_round
        );
        return Ok(());
    }
    let mut t = Ticked::default();
    if restarted {
        campaign_run::step(conn, &vault, config.sms_max_parts, id, &mut t)?;
        c = campaign::get(conn, id)?;
    }
    println!(
        "campaign {}: {} skipped device(s) re-queued as {} (round {})",
        c.id,
        r.requeued,
        waves_label(r.first_wave, r.last_wave),
        c.requeue_round
    );
    println!("campaign {} is {}", c.id, c.state);
    if c.state() == CampaignState::Paused {
        println!(
            "the campaign is paused: `mdm campaign resume {}` sends them (after any waves still waiting)",
            c.id
        );
    } else if restarted {
        println!(
            "{} device(s) notified now, {} skipped again (the device list says why); the server's scheduler sends the next waves",
            t.notified, t.skipped
        );
    } else {
        println!(
            "they follow the waves still to come (now at wave {}); the server's scheduler sends them in turn",
            c.wave
        );
    }
    Ok(())
}

/// `wave 7` or `waves 7-9`.
fn waves_label(first: Option<i32>, last: Option<i32>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => format!("wave {a}"),
        (Some(a), Some(b)) => format!("waves {a}-{b}"),
        _ => "no wave".into(),
    }
}

fn print_campaign(c: &Campaign, p: &Progress) {
    println!("campaign {}: {}", c.id, c.name);
    println!("  path      {}", c.path_label());
    println!("  for       {}", c.population().label());
    println!("  package   {}", c.package_id);
    println!(
        "  state     {}{}",
        c.state_label(&p.overall),
        if c.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.detail)
        }
    );
    println!(
        "  waves     {} of up to {} device(s); at wave {}",
        c.waves, c.wave_size, c.wave
    );
    println!("  threshold {}%", c.failure_threshold);
    println!("  schedule  {}", c.schedule_label());
    if let Some(why) = c.waiting(crate::db::now_ms()) {
        println!("            {why}");
    }
    let o = &p.overall;
    println!(
        "  devices   {}: {} updated, {} failed, {} declined, {} unanswered, {} skipped, {} cancelled, {} notified, {} waiting",
        o.total(),
        o.succeeded,
        o.failed,
        o.declined,
        o.unanswered,
        o.skipped,
        o.cancelled,
        o.notified,
        o.queued
    );
    // Waves nobody in has been reached yet are summed: a campaign of a
    // thousand waves would otherwise print a thousand idle lines.
    let mut waiting = 0;
    for (i, w) in p.waves.iter().enumerate() {
        if w.total() == 0 {
            // Its devices all went to a later wave (`renotify`), or were
            // purged: nothing in it is waiting to be reached.
            println!(
                "  wave {:>3}  empty: its devices moved to a later wave or left the registry",
                i + 1
            );
            continue;
        }
        if w.queued == w.total() {
            waiting += 1;
            continue;
        }
        println!(
            "  wave {:>3}  {} of {} finished: {} updated, {} failed, {} skipped, {} notified",
            i + 1,
            w.finished(),
            w.total(),
            w.succeeded,
            w.failed,
            w.skipped,
            w.notified
        );
    }
    if waiting > 0 {
        println!("  {waiting} wave(s) not reached yet");
    }
}
