//! `mdm prl`, `mdm otapa`, `mdm esn` and `mdm sim activate`: the IOTA and
//! ESN-change commands.

use clap::Subcommand;

use super::open;
use crate::config::Config;
use crate::iota::driver::{self, PushContext};
use crate::iota::prl_store::{self, NewPrl};
use crate::registry::esn_change::{self, EsnChangeRequest};
use crate::registry::identifiers::{Esn, Meid};
use crate::registry::Actor;
use crate::sim::iota_client::{self, IotaOutcome};
use crate::sim::iota_handset::{HandsetIdentity, IotaFault, IotaHandset};

#[derive(Subcommand)]
pub enum PrlCommand {
    /// Check a PRL file (size, CRC, every record) and file it in the SSPR tables.
    Add {
        /// The binary PRL (IS-683-A format, PR_LIST_SIZE through PR_LIST_CRC).
        file: std::path::PathBuf,
        /// The PR_LIST_ID the file must carry (default: whatever it carries).
        #[arg(long)]
        id: Option<i32>,
        /// The SSPR table number profiles refer to (default: the next free one).
        #[arg(long)]
        sspr_table: Option<i32>,
        /// A name for people.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the SSPR tables.
    List,
}

#[derive(Subcommand)]
pub enum OtapaCommand {
    /// Start the automated PRL download: a WAP Push SL asks the handset to
    /// call back, then OTAPA start, SSPR download, commit, OTAPA stop.
    Prl {
        /// The handset: ESN, MEID or MDN.
        #[arg(long)]
        device: String,
        /// The PR_LIST_ID to download.
        #[arg(long)]
        prl: i32,
    },
}

#[derive(Subcommand)]
pub enum EsnCommand {
    /// Move a subscriber to a new handset; it waits in Pending Activation
    /// until its first activation, which de-activates the old one.
    Change {
        /// The current handset: ESN, MEID or the subscriber's MDN.
        #[arg(long)]
        from: String,
        /// The new handset's ESN or MEID.
        #[arg(long)]
        to: String,
        /// copy (the profile is copied to the new ESN) or field (New ESN / Activated ESN).
        #[arg(long, default_value = "copy")]
        variant: String,
        #[arg(long)]
        make: Option<String>,
        #[arg(long)]
        model: Option<String>,
    },
    /// Cancel an ESN change still waiting for activation: the subscriber
    /// stays on the old handset and the new one leaves the line.
    Cancel {
        /// The ESN change's id (as `mdm esn change` printed it).
        #[arg(long, conflicts_with = "mdn", required_unless_present = "mdn")]
        id: Option<i64>,
        /// Or the subscriber's MDN: its change waiting for activation.
        #[arg(long)]
        mdn: Option<String>,
    },
}

/// Arguments of `mdm sim activate`.
#[derive(clap::Args)]
pub struct ActivateArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub server: String,
    /// The handset's ESN (8 hex or 11 decimal digits) or MEID.
    #[arg(long)]
    pub device: String,
    #[arg(long, default_value = "Simulated")]
    pub make: String,
    #[arg(long, default_value = "IOTA-1")]
    pub model: String,
    /// Name the handset with a Protocol Capability Response instead of the GET.
    #[arg(long)]
    pub identify_late: bool,
    /// Fail on purpose: drop (the data call), reject (a NAM block) or crc (bad PRL CRC).
    #[arg(long)]
    pub fail: Option<String>,
    /// Write every MMC document exchanged to numbered files here.
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
}

pub fn prl(config: &Config, command: PrlCommand) -> anyhow::Result<()> {
    let db = open(config)?;
    let mut conn = db.get()?;
    match command {
        PrlCommand::Add {
            file,
            id,
            sspr_table,
            name,
        } => {
            let bytes =
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let p = prl_store::add(
                &mut conn,
                &Actor::System("cli"),
                &NewPrl {
                    bytes,
                    prl_id: id,
                    sspr_table,
                    name,
                },
            )?;
            let list = p.decoded()?;
            println!(
                "PRL {} filed in SSPR table {} ({} octets, CRC {}, {} acquisition and {} system records)",
                p.prl_id,
                p.sspr_table,
                p.size,
                p.crc_hex(),
                list.acq_records.len(),
                list.sys_records.len()
            );
            Ok(())
        }
        PrlCommand::List => {
            for p in prl_store::list(&mut conn)? {
                println!(
                    "table {:>5}  PRL {:>5}  {:>6} octets  CRC {}  {}",
                    p.sspr_table,
                    p.prl_id,
                    p.size,
                    p.crc_hex(),
                    p.name
                );
            }
            Ok(())
        }
    }
}

/// Where handsets call back when the CLI starts a session: the server's
/// public URL, else the address it is configured to listen on.
fn push_context(config: &Config) -> PushContext {
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind.replace("0.0.0.0", "127.0.0.1")));
    PushContext {
        base_url,
        max_parts: config.sms_max_parts,
    }
}

pub fn otapa(config: &Config, command: OtapaCommand) -> anyhow::Result<()> {
    let OtapaCommand::Prl { device, prl } = command;
    let db = open(config)?;
    let mut conn = db.get()?;
    let s = driver::start_otapa(
        &mut conn,
        &Actor::System("cli"),
        &device,
        prl,
        &push_context(config),
    )?;
    println!(
        "PRL {prl} download queued for {device}: WAP Push SL with call-back {}{}{}",
        push_context(config).base_url.trim_end_matches('/'),
        driver::CALLBACK_PATH,
        s.token
    );
    Ok(())
}

pub fn esn(config: &Config, command: EsnCommand) -> anyhow::Result<()> {
    let (from, to, variant, make, model) = match command {
        EsnCommand::Change {
            from,
            to,
            variant,
            make,
            model,
        } => (from, to, variant, make, model),
        EsnCommand::Cancel { id, mdn } => return esn_cancel(config, id, mdn),
    };
    let db = open(config)?;
    let mut conn = db.get()?;
    let c = esn_change::request(
        &mut conn,
        &Actor::System("cli"),
        &EsnChangeRequest {
            from,
            to,
            variant: Some(variant),
            make,
            model,
            firmware_version: None,
        },
    )?;
    println!(
        "ESN change {}: {} -> {} ({} variant), new handset pending activation",
        c.id,
        c.old_esn.as_deref().unwrap_or("?"),
        c.new_esn,
        c.variant
    );
    Ok(())
}

fn esn_cancel(config: &Config, id: Option<i64>, mdn: Option<String>) -> anyhow::Result<()> {
    let db = open(config)?;
    let mut conn = db.get()?;
    let id = match (id, mdn) {
        (Some(id), _) => id,
        (None, Some(mdn)) => esn_change::pending_of_mdn(&mut conn, &mdn)?.id,
        (None, None) => anyhow::bail!("name the ESN change with --id or the line with --mdn"),
    };
    let c = esn_change::cancel(&mut conn, &Actor::System("cli"), id)?;
    println!(
        "ESN change {} to {} cancelled: the subscriber stays on {}",
        c.id,
        c.new_esn,
        c.old_esn.as_deref().unwrap_or("the current handset")
    );
    Ok(())
}

/// The identity a simulated handset presents for an ESN or MEID.
pub fn sim_identity(device: &str, make: &str, model: &str) -> anyhow::Result<HandsetIdentity> {
    let t = device.trim();
    if let Ok(esn) = Esn::parse(t) {
        return Ok(HandsetIdentity::new(
            &esn.to_hex(),
            None,
            make,
            model,
            0x0100,
            1,
        ));
    }
    if let Ok(meid) = Meid::parse(t) {
        return Ok(HandsetIdentity::new(
            &meid.pseudo_esn().to_hex(),
            Some(&meid.to_hex()),
            make,
            model,
            0x0100,
            1,
        ));
    }
    anyhow::bail!("--device is an ESN (8 hex or 11 decimal digits) or a MEID (14 hex digits)")
}

pub fn parse_fault(fail: Option<&str>) -> anyhow::Result<IotaFault> {
    Ok(match fail {
        None => IotaFault::None,
        Some("drop") => IotaFault::DropCall { after_requests: 1 },
        Some("reject") => IotaFault::RejectBlock,
        Some("crc") => IotaFault::BadPrlCrc,
        Some(_) => anyhow::bail!("--fail is drop, reject or crc"),
    })
}

pub fn sim_activate(args: ActivateArgs) -> anyhow::Result<()> {
    let identity = sim_identity(&args.device, &args.make, &args.model)?;
    let mut handset = IotaHandset::new(identity, parse_fault(args.fail.as_deref())?);
    let url = format!(
        "{}{}",
        args.server.trim_end_matches('/'),
        driver::BOOTSTRAP_PATH
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let trace = crate::sim::trace::Trace::new(args.trace)?;
        let outcome = iota_client::run(&mut handset, &url, !args.identify_late, &trace).await?;
        for line in handset.log() {
            println!("  {line}");
        }
        println!("{outcome}");
        match outcome {
            IotaOutcome::Completed { .. } => {
                let nam = handset.committed_nam();
                println!(
                    "handset NAM: MIN {}, MDN {}, PRL {}",
                    nam.imsi_m.min,
                    nam.mdn.as_deref().unwrap_or("-"),
                    handset
                        .committed_prl_list()
                        .map(|p| p.pr_list_id.to_string())
                        .unwrap_or_else(|| "-".into())
                );
                Ok(())
            }
            other => anyhow::bail!("{other}"),
        }
    })
}

/// `mdm sim fota --protocol iota`: the registered handset, played over IOTA.
pub fn sim_fota(
    config: &Config,
    server: &str,
    device: &str,
    fail: Option<&str>,
    trace: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use crate::sim::iota_client::FotaFault;
    use crate::sim::omadm_handset::FotaOutcome;
    let fault = match fail {
        None => None,
        Some("cancel") => Some(FotaFault::Cancel),
        Some("corrupt") => Some(FotaFault::Corrupt),
        Some(_) => anyhow::bail!("--fail over IOTA is cancel or corrupt"),
    };
    let db = open(config)?;
    let d = {
        let mut conn = db.get()?;
        crate::registry::lookup::find(
            &mut conn,
            &crate::registry::lookup::DeviceKey::parse(device)?,
        )?
    };
    let id = d
        .meid
        .clone()
        .or_else(|| d.esn.clone())
        .ok_or_else(|| anyhow::anyhow!("device {} has no ESN or MEID", d.id))?;
    let mut identity = sim_identity(&id, &d.make, &d.model)?;
    identity.firmware = Some(d.firmware_version.clone());
    let mut handset = IotaHandset::new(identity, IotaFault::None);
    let url = format!("{}{}", server.trim_end_matches('/'), config.fota_path);
    let header = config.gateway_header.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tracer = crate::sim::trace::Trace::new(trace)?;
        let outcome =
            iota_client::run_fota(&mut handset, &url, Some((&header, &id)), fault, &tracer)
                .await
                .map_err(|e| super::gateway_hint(e, &header))?;
        println!("{outcome}");
        match outcome {
            FotaOutcome::Updated { .. } => Ok(()),
            other => anyhow::bail!("{other}"),
        }
    })
}
