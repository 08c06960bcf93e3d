//! `mdm dm run|job|jobs`: an operator's management commands for a device
//! (read or set any node, LAWMO lock and wipe) and what the device answered.

use std::io::Read;

use clap::Args;

use crate::config::Config;
use crate::omadm::command::{self, DmCommand, Preset};
use crate::omadm::job::{self, DmJob};
use crate::registry::Actor;

#[derive(Args)]
pub struct RunArgs {
    /// The device: ESN, MEID or MDN as registered.
    #[arg(long)]
    device: String,
    /// Commands, one per argument, in the order they run:
    /// "get ./DevDetail/SwV", "replace ./Customization/BrowserHome http://x/",
    /// "replace:bool ./Customization/DataRoaming false", "delete PATH",
    /// "exec ./LAWMO/Operations/FullyLock".
    commands: Vec<String>,
    /// Read the commands from this file, one per line ("-": standard input).
    #[arg(long, conflicts_with_all = ["commands", "preset"])]
    file: Option<String>,
    /// A ready-made LAWMO operation: lock, partial-lock, unlock, wipe or factory-reset.
    #[arg(long, conflicts_with = "commands")]
    preset: Option<String>,
    /// Needed for wipe and factory-reset, which erase the subscriber's data.
    #[arg(long)]
    confirm: bool,
}

fn commands_of(args: &RunArgs) -> anyhow::Result<Vec<DmCommand>> {
    if let Some(p) = &args.preset {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
        let preset = Preset::parse(p)
            .ok_or_else(|| anyhow::anyhow!("--preset {p:?}: use one of {}", names.join(", ")))?;
        if preset.destroys_data() && !args.confirm {
            anyhow::bail!(
                "--preset {p} erases the subscriber's data on the handset: add --confirm"
            );
        }
        return Ok(preset.commands());
    }
    let script = match args.file.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
        Some(f) => std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{f}: {e}"))?,
        None => args.commands.join("\n"),
    };
    Ok(command::parse_script(&script)?)
}

pub fn run(config: &Config, args: &RunArgs) -> anyhow::Result<()> {
    let cmds = commands_of(args)?;
    let (db, id) = super::messaging::device_id(config, &args.device)?;
    let mut conn = db.get()?;
    let vault = super::vault(config, &mut conn)?;
    let (j, msg) = job::notify_commands(
        &mut conn,
        &vault,
        id,
        &cmds,
        &Actor::System("cli"),
        config.sms_max_parts,
    )?;
    println!(
        "job {} queued with {} command(s): session id {:04X}, notification message {} to {} ({})",
        j.id,
        cmds.len(),
        j.dm_session_id,
        msg.id,
        msg.mdn,
        msg.state
    );
    println!("follow it with: mdm dm job {}", j.id);
    super::messaging::sender_hint(config);
    Ok(())
}

pub fn show(config: &Config, id: i64, json: bool) -> anyhow::Result<()> {
    let db = super::open(config)?;
    let mut conn = db.get()?;
    let j = job::get(&mut conn, id)?.ok_or_else(|| anyhow::anyhow!("no DM job {id}"))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "id": j.id,
                "device_id": j.device_id,
                "kind": j.kind,
                "session_id": format!("{:04X}", j.dm_session_id),
                "state": j.state,
                "detail": j.detail,
                "commands": j.command_lines(),
                "results": j.results(),
                "created_by": j.created_by,
                "created_at": crate::timefmt::iso(j.created_at),
                "updated_at": crate::timefmt::iso(j.updated_at),
            }))?
        );
        return Ok(());
    }
    print_job(&j, None);
    Ok(())
}

/// Prints a job; a list passes `clip`, the characters each command, value
/// and summary is cut to (a job's own view shows them whole).
fn print_job(j: &DmJob, clip: Option<usize>) {
    let cut = |s: &str| match clip {
        Some(max) => crate::omadm::job::clip(s, max).into_owned(),
        None => s.to_string(),
    };
    println!(
        "job {}  device {}  {}  session {:04X}  {}  (by {}, {})",
        j.id,
        j.device_id,
        j.kind,
        j.dm_session_id,
        j.state,
        j.created_by,
        crate::timefmt::utc(j.updated_at)
    );
    if !j.detail.is_empty() {
        println!("  {}", cut(&j.detail));
    }
    let results = j.results();
    if results.is_empty() {
        for l in j.command_lines() {
            println!("  {}  (waiting for the device)", cut(&l));
        }
    }
    for r in results {
        let value = r
            .value
            .as_deref()
            .map(|v| format!(" = {}", cut(v)))
            .unwrap_or_default();
        let later = r
            .reported
            .as_deref()
            .map(|x| format!("; reported later: {}", cut(x)))
            .unwrap_or_default();
        println!("  {}  -> {}{value}{later}", cut(&r.command), r.outcome());
    }
}

pub fn list(config: &Config, device: &str) -> anyhow::Result<()> {
    let (db, id) = super::messaging::device_id(config, device)?;
    let mut conn = db.get()?;
    let jobs = job::for_device(&mut conn, id, 20)?;
    if jobs.is_empty() {
        println!("no server-initiated sessions for this device");
    }
    for j in &jobs {
        print_job(j, Some(crate::omadm::job::LIST_TEXT_CHARS));
    }
    Ok(())
}
