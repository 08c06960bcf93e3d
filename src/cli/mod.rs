//! The `mdm` command line: serve, migrate, user, token, import, device,
//! firmware, campaign, demo and the simulators.

use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::auth::{tokens, users, Role};
use crate::config::Config;
use crate::db::Db;
use crate::registry::import::{self, Progress};
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::Actor;
use crate::Application;

mod campaign;
mod dm;
mod iota;
mod messaging;

#[derive(Parser)]
#[command(
    name = "mdm",
    version,
    about = "Central device-management platform for a mobile operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (portal, REST API, device endpoints).
    Serve {
        /// Load the demo data set first (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// POS pre-load: import subscribers and devices from a CSV file.
    Import {
        /// The CSV file; see the README for its columns.
        file: std::path::PathBuf,
    },
    /// Inspect devices.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Manage the firmware repository.
    Firmware {
        #[command(subcommand)]
        command: FirmwareCommand,
    },
    /// FOTA campaigns: network-initiated updates of an update path in waves.
    Campaign {
        #[command(subcommand)]
        command: campaign::CampaignCommand,
    },
    /// Simulated handsets.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// OMA-DM: set a device's credentials, send it management commands in a
    /// server-initiated session, and show its jobs (credentials, run, job, jobs).
    Dm {
        #[command(subcommand)]
        command: DmCommand,
    },
    /// Archive deactivated subscribers past the retention period, then delete them.
    Purge {
        /// Deactivated for longer than this (default: MDM_RETENTION, 6mo). `0s` purges every deactivated record now.
        #[arg(long)]
        older_than: Option<String>,
    },
    /// Read the offline archive back.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
    /// Queue a server-initiated OMA-DM session: the notification goes out
    /// through the outbox and the commands run when the device calls back.
    Notify {
        /// The device: ESN, MEID or MDN as registered.
        #[arg(long)]
        device: String,
        /// What the session does: refresh (read DevInfo/DevDetail back) or
        /// fota (a network-initiated firmware update).
        #[arg(long, default_value = "refresh")]
        job: String,
    },
    /// WAP Push to a device: OMA Client Provisioning.
    Push {
        #[command(subcommand)]
        command: messaging::PushCommand,
    },
    /// The SMS outbox: what was sent, and what it became.
    Outbox {
        #[command(subcommand)]
        command: messaging::OutboxCommand,
    },
    /// Run a test SMSC (SMPP v3.4) that accepts and prints every message.
    SmscSim(messaging::SmscSimArgs),
    /// Provisioning detail records (every feature change and its billing outcome) as CSV.
    Cdr {
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Run the billing-gateway simulator; prints every order it receives.
    BillingSim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: std::net::SocketAddr,
        /// Refuse every order with this failure code.
        #[arg(long, conflicts_with = "timeout")]
        fail: Option<String>,
        /// Accept orders and never answer.
        #[arg(long)]
        timeout: bool,
    },
    /// The SSPR tables of Preferred Roaming Lists.
    Prl {
        #[command(subcommand)]
        command: iota::PrlCommand,
    },
    /// Server-initiated IOTA (OTAPA) sessions.
    Otapa {
        #[command(subcommand)]
        command: iota::OtapaCommand,
    },
    /// ESN changes: a subscriber moves to a new handset.
    Esn {
        #[command(subcommand)]
        command: iota::EsnCommand,
    },
    /// Load a realistic demo data set (idempotent).
    Demo {
        /// How many subscribers to create.
        #[arg(long, default_value_t = 5000)]
        subscribers: u32,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff user; the password is read from standard input.
    Add {
        username: String,
        /// admin, operator, firmware or care
        #[arg(long)]
        role: String,
    },
    /// List the staff users.
    List,
    /// Set a user's password, read from standard input; their open sessions end.
    Password { username: String },
    /// Give a user another role; their open sessions end.
    Role {
        username: String,
        /// admin, operator, firmware or care
        role: String,
    },
    /// Disable a user: they cannot sign in, and their open sessions end.
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
    /// Delete a user (a leaver): their sessions end, the API tokens they
    /// created are revoked; the history keeps their name, which stays reserved.
    Delete { username: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it once.
    Create {
        name: String,
        /// admin, operator, firmware or care
        #[arg(long)]
        role: String,
        /// Days until the token expires (default: never).
        #[arg(long)]
        days: Option<i64>,
    },
    /// List the tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (see `token list`).
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum FirmwareCommand {
    /// Add a package; prints its id and SHA-256.
    Add {
        #[arg(long)]
        make: String,
        #[arg(long)]
        model: String,
        /// The version the delta applies to; omit for a full image.
        #[arg(long)]
        from: Option<String>,
        /// The version after the update.
        #[arg(long)]
        to: String,
        /// The package file.
        #[arg(long)]
        file: std::path::PathBuf,
        #[arg(long)]
        notes: Option<String>,
        #[arg(long)]
        mandatory: bool,
        /// Move it through testing to released at once.
        #[arg(long)]
        release: bool,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Run a client-initiated FOTA as an OMA-DM handset; exits 0 only when
    /// the update completed and its final status was reported.
    Fota {
        /// The server's base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: String,
        /// The device: ESN, MEID or MDN as registered.
        #[arg(long)]
        device: String,
        /// Fail on purpose: cancel, corrupt or drop.
        #[arg(long)]
        fail: Option<String>,
        /// Write every HTTP body exchanged to numbered files here.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// OMA-DM password of the device (see `mdm dm credentials`); not
        /// used over IOTA.
        #[arg(long, env = "MDM_SIM_PASSWORD")]
        password: Option<String>,
        /// xml or wbxml (default).
        #[arg(long, default_value = "wbxml")]
        encoding: String,
        /// The protocol branch: omadm or iota.
        #[arg(long, default_value = "omadm")]
        protocol: String,
    },
    /// Run one-button activation as an IOTA handset; exits 0 only when the
    /// handset committed and the server ended the session.
    Activate(iota::ActivateArgs),
}

#[derive(Subcommand)]
enum DmCommand {
    /// Set the device's OMA-DM credentials (user name = its DevId).
    Credentials {
        #[arg(long)]
        device: String,
        /// The device's password; read from standard input when absent.
        #[arg(long)]
        password: Option<String>,
        /// The password the server proves itself with (default: generated).
        #[arg(long)]
        server_password: Option<String>,
    },
    /// Send the device management commands (Get, Replace, Add, Delete,
    /// Exec; or a LAWMO lock or wipe) in a server-initiated session.
    Run(dm::RunArgs),
    /// One job: its commands and what the device answered.
    Job {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// A device's server-initiated sessions, newest first.
    Jobs {
        #[arg(long)]
        device: String,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// The purge runs and what they archived.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The subscribers archived by one run.
    Show { id: i64 },
    /// Bring one run's subscribers back into the live database.
    Restore {
        id: i64,
        /// Report progress after this many records (and every few seconds).
        #[arg(long, hide = true, default_value_t = 10_000)]
        progress_every: usize,
    },
    /// Give up a running purge run whose archive is lost for good (its
    /// segment missing or short): it ends abandoned, keeping what it archived
    /// and deleted, deleting nothing more, and a new purge can start.
    Abandon {
        id: i64,
        /// Why (kept on the run and in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Show a device, its profile and its capability. ID is an ESN, MEID or MDN.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A log setting is refused like any other: a silent fallback would
    // leave the operator without the lines they asked for.
    if let Err(e) = crate::logging::init() {
        eprintln!("error: configuration: {e}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        // Output written with `write!` rather than `println!` (`mdm cdr`)
        // meets a closed pipe as an error: as quiet as the panic main.rs
        // catches.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::from(CLOSED_PIPE_STATUS as u8)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit status of a command whose reader closed the pipe: a shell's
/// status for a command SIGPIPE ended (128 + 13).
pub const CLOSED_PIPE_STATUS: i32 = 141;

fn billing_sim(
    bind: std::net::SocketAddr,
    fail: Option<String>,
    timeout: bool,
) -> anyhow::Result<()> {
    use crate::billing::sim::{BillingSim, SimMode};
    let mode = match (fail, timeout) {
        (Some(code), _) => SimMode::Fail {
            message: format!("refused by the simulator ({code})"),
            code,
        },
        (None, true) => SimMode::Timeout,
        (None, false) => SimMode::Succeed,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sim = BillingSim::start(bind, mode.clone()).await?;
        println!(
            "billing gateway simulator ({mode:?}) listening; set MDM_BILLING_URL={}",
            sim.url()
        );
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            }
            let orders = sim.orders();
            for o in orders.iter().skip(seen) {
                println!("{}", serde_json::to_string(o)?);
            }
            seen = orders.len();
        }
        sim.stop();
        anyhow::Ok(())
    })
}

pub(crate) fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, 2)?;
    db.migrate()?;
    Ok(db)
}

/// The node's secrets key, for commands that read or write DM secrets; one
/// that does not open the secrets already stored is refused.
/// It is checked on the command's own connection.
pub(crate) fn vault(
    config: &Config,
    conn: &mut crate::db::DbConnection,
) -> anyhow::Result<crate::secrets::Vault> {
    let vault = crate::secrets::Vault::load_rotating(
        config.secrets_key.as_deref(),
        config.secrets_previous_key.as_deref(),
        &config.data_dir,
    )?;
    crate::omadm::account::check_vault(conn, &vault)?;
    Ok(vault)
}

fn read_secret(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        anyhow::bail!("no password given on standard input");
    }
    Ok(secret)
}

fn staff_role(role: &str) -> anyhow::Result<Role> {
    Role::parse_staff(role)
        .ok_or_else(|| anyhow::anyhow!("role must be admin, operator, firmware or care"))
}

fn user_command(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::System("cli");
    let connect = || -> anyhow::Result<crate::db::PooledConn> { Ok(open(config)?.get()?) };
    match command {
        UserCommand::Add { username, role } => {
            let role = staff_role(&role)?;
            let password = read_secret("Password")?;
            let mut conn = connect()?;
            let user = users::create(&mut conn, &actor, &username, &password, role)?;
            println!("user {} created with role {}", user.username, role.as_str());
        }
        UserCommand::List => {
            let mut conn = connect()?;
            for u in users::list(&mut conn)? {
                println!(
                    "{:>5}  {:<24}  {:<8}  {:<8}  created {}",
                    u.id,
                    u.username,
                    u.role,
                    if u.is_deleted() {
                        "deleted"
                    } else if u.disabled {
                        "disabled"
                    } else {
                        "active"
                    },
                    crate::timefmt::utc(u.created_at)
                );
            }
        }
        UserCommand::Password { username } => {
            let password = read_secret("New password")?;
            let mut conn = connect()?;
            let user = users::by_name(&mut conn, &username)?;
            users::set_password(&mut conn, &actor, user.id, &password)?;
            println!(
                "password of {} changed; their open sessions have ended",
                user.username
            );
        }
        UserCommand::Role { username, role } => {
            let role = staff_role(&role)?;
            let mut conn = connect()?;
            let user = users::by_name(&mut conn, &username)?;
            match users::set_role(&mut conn, &actor, user.id, role)? {
                (_, None) => println!("{} already has role {}", user.username, role.as_str()),
                (_, Some(_)) => println!(
                    "{} now has role {}; their open sessions have ended",
                    user.username,
                    role.as_str()
                ),
            }
        }
        UserCommand::Disable { username } => {
            let mut conn = connect()?;
            let user = users::by_name(&mut conn, &username)?;
            users::set_disabled(&mut conn, &actor, user.id, true)?;
            println!(
                "user {} disabled; their open sessions have ended",
                user.username
            );
        }
        UserCommand::Enable { username } => {
            let mut conn = connect()?;
            let user = users::by_name(&mut conn, &username)?;
            users::set_disabled(&mut conn, &actor, user.id, false)?;
            println!("user {} enabled", user.username);
        }
        UserCommand::Delete { username } => {
            let mut conn = connect()?;
            let user = users::by_name(&mut conn, &username)?;
            let deleted = users::delete(&mut conn, &actor, user.id)?;
            println!(
                "user {} deleted; their open sessions have ended",
                deleted.username
            );
            for token in &deleted.revoked_tokens {
                println!("API token {token} (created by them) revoked");
            }
        }
    }
    Ok(())
}

fn token_command(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let db = open(config)?;
    let mut conn = db.get()?;
    match command {
        TokenCommand::Create { name, role, days } => {
            let role = staff_role(&role)?;
            let (token, secret) =
                tokens::create(&mut conn, &Actor::System("cli"), &name, role, days)?;
            eprintln!(
                "token {} {} ({}) created; it is shown only this once:",
                token.id,
                token.name,
                role.as_str()
            );
            println!("{secret}");
        }
        TokenCommand::List { json } => {
            let list = tokens::list(&mut conn)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let now = crate::db::now_ms();
            for t in list {
                println!(
                    "{:>5}  {:<24}  {:<8}  {:<7}  expires {}  last used {}  by {}, {}",
                    t.id,
                    t.name,
                    t.role,
                    t.status(now),
                    crate::timefmt::utc_opt(t.expires_at),
                    crate::timefmt::utc_opt(t.last_used_at),
                    t.created_by,
                    crate::timefmt::utc(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(&mut conn, &Actor::System("cli"), id)?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Prl { command } => iota::prl(&config, command),
        Command::Otapa { command } => iota::otapa(&config, command),
        Command::Esn { command } => iota::esn(&config, command),
        Command::Sim {
            command: SimCommand::Activate(args),
        } => iota::sim_activate(args),
        Command::Campaign { command } => campaign::run(&config, command),
        Command::Notify { device, job } => messaging::notify(&config, &device, &job),
        Command::Push { command } => messaging::push(&config, command),
        Command::Outbox { command } => messaging::outbox(&config, command),
        Command::SmscSim(args) => messaging::smsc_sim(&config, args),
        Command::Cdr { output } => {
            use std::io::Write;
            let db = open(&config)?;
            let mut conn = db.get()?;
            let mut out: Box<dyn Write> = match output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(&p)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            out.write_all(crate::features::records::csv_header().as_bytes())?;
            let mut after = 0;
            loop {
                let (bytes, next) = crate::features::records::csv_page(&mut conn, after, 1000)?;
                out.write_all(&bytes)?;
                match next {
                    Some(n) => after = n,
                    None => break,
                }
            }
            out.flush()?;
            Ok(())
        }
        Command::BillingSim {
            bind,
            fail,
            timeout,
        } => billing_sim(bind, fail, timeout),
        Command::Serve { demo } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                if demo {
                    let db = crate::open_database(&config).await?;
                    let demo_config = config.clone();
                    let report = tokio::task::spawn_blocking(move || {
                        crate::demo::load_for(&demo_config, &db, 5000, &mut |_| {})
                    })
                    .await??;
                    eprintln!("demo data: {report}");
                }
                let app = Application::build(config.clone()).await?;
                // Watched before the start is announced: a stop sent on
                // seeing it is never missed.
                let signalled = crate::logging::stop_on_signal(app.handle());
                tracing::info!(bind = %config.bind, port = app.port(), "MDM platform listening");
                eprintln!(
                    "MDM platform listening on http://{}",
                    config.bind.replace(":0", &format!(":{}", app.port()))
                );
                app.run_until_stopped().await?;
                // The signal task has ended if a signal stopped the server.
                let signalled = futures_util::FutureExt::now_or_never(signalled);
                crate::logging::log_stopped(signalled.and_then(Result::ok).flatten());
                anyhow::Ok(())
            })
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url, 1)?;
            let applied = db.migrate()?;
            println!("{applied} migration(s) applied on {}", db.backend().name());
            Ok(())
        }
        Command::User { command } => user_command(&config, command),
        Command::Token { command } => token_command(&config, command),
        Command::Import { file } => {
            let mut data = Vec::new();
            std::fs::File::open(&file)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let db = open(&config)?;
            let mut conn = db.get()?;
            let filename = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            // Recorded like a portal import, so care and O&M see it (and its
            // progress) in the portal's import list.
            let run = import::open_run(
                &mut conn,
                &filename,
                &cli_operator(),
                import::Source::Cli,
                &data,
            )?;
            eprintln!(
                "import {} (/devices/import/{} in the portal)",
                run.id, run.id
            );
            if run.resume_from > 0 {
                eprintln!(
                    "resuming: the first {} line(s) of this file were written by an earlier, interrupted run",
                    run.resume_from
                );
            }
            let progress = Progress::shared();
            let watcher = spawn_progress(progress.clone());
            let report = import::import_for_run(
                &mut conn,
                &Actor::System("cli-import"),
                &data,
                &progress,
                run,
            );
            watcher.store(true, Ordering::Relaxed);
            let report = report?;
            eprintln!();
            if report.errors.is_empty() {
                println!(
                    "imported {} line(s): {} profile(s), {} device(s)",
                    report.lines, report.profiles, report.devices
                );
                Ok(())
            } else {
                for e in &report.errors {
                    eprintln!("line {}: {}", e.line, e.message);
                }
                if report.unlisted_errors > 0 {
                    eprintln!("… and {} more problem(s)", report.unlisted_errors);
                }
                let written = import::get_run(&mut conn, run.id)?.imported_lines;
                if written > 0 {
                    anyhow::bail!(
                        "{} problem(s) found after {written} line(s) were written; the import is interrupted: correct them, then run the same file again to write the rest",
                        report.problems()
                    )
                }
                anyhow::bail!(
                    "{} problem(s) found; nothing was imported",
                    report.problems()
                )
            }
        }
        Command::Device {
            command: DeviceCommand::Show { id, json },
        } => {
            let key = DeviceKey::parse(&id)?;
            let db = open(&config)?;
            let mut conn = db.get()?;
            let view = lookup::by_key(&mut conn, &key)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_device(&view);
            }
            Ok(())
        }
        Command::Firmware {
            command:
                FirmwareCommand::Add {
                    make,
                    model,
                    from,
                    to,
                    file,
                    notes,
                    mandatory,
                    release,
                },
        } => {
            let bytes =
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let db = open(&config)?;
            let draft = crate::firmware::package::PackageDraft {
                name: None,
                make: Some(make),
                model: Some(model),
                from_version: from,
                to_version: Some(to),
                release_notes: notes,
                mandatory: Some(mandatory),
            };
            let p = crate::web::firmware::add_from_file(
                &db,
                &config.blob_dir,
                &Actor::System("cli"),
                &draft,
                &bytes,
                release,
                config.package_limit as u64,
            )?;
            println!(
                "package {} {} sha256 {} ({} bytes, {})",
                p.id, p.name, p.sha256, p.size, p.state
            );
            Ok(())
        }
        Command::Sim {
            command:
                SimCommand::Fota {
                    server,
                    device,
                    fail,
                    trace,
                    password,
                    encoding,
                    protocol,
                },
        } => {
            if protocol == "iota" {
                return iota::sim_fota(&config, &server, &device, fail.as_deref(), trace);
            }
            if protocol != "omadm" {
                anyhow::bail!("--protocol is omadm or iota");
            }
            let Some(password) = password else {
                anyhow::bail!("--password (or MDM_SIM_PASSWORD) is needed over OMA-DM");
            };
            let fail = match fail.as_deref() {
                None => None,
                Some(f) => Some(
                    crate::sim::omadm_handset::Fail::parse(f)
                        .ok_or_else(|| anyhow::anyhow!("--fail is cancel, corrupt or drop"))?,
                ),
            };
            let encoding = match encoding.as_str() {
                "xml" => crate::omadm::syncml::Encoding::Xml,
                "wbxml" => crate::omadm::syncml::Encoding::Wbxml,
                _ => anyhow::bail!("--encoding is xml or wbxml"),
            };
            // The simulated handset takes the identity and DM tree of the
            // registered device it plays.
            let db = open(&config)?;
            let (d, acct) = {
                let mut conn = db.get()?;
                let d = lookup::find(&mut conn, &DeviceKey::parse(&device)?)?;
                // The handset holds the server's credentials as provisioned,
                // and checks that the server it talks to knows them.
                let vault = vault(&config, &mut conn)?;
                let acct = crate::omadm::account::get(&mut conn, &vault, d.id)?;
                (d, acct)
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let dev_id = crate::omadm::engine::dev_id_of(&d);
                let mut handset = crate::sim::omadm_handset::Handset {
                    server: server.trim_end_matches('/').to_string(),
                    fota_path: config.fota_path.clone(),
                    dev_id: dev_id.clone(),
                    username: dev_id,
                    password,
                    man: d.make.clone(),
                    model: d.model.clone(),
                    firmware: d.firmware_version.clone(),
                    encoding,
                    fail,
                    gateway_header: Some(config.gateway_header.clone()),
                    timings: None,
                    server_password: acct.as_ref().map(|a| a.server_password.clone()),
                    server_nonce: acct
                        .as_ref()
                        .map(|a| a.server_nonce_bytes())
                        .unwrap_or_default(),
                    server_id: acct.as_ref().map(|a| a.server_id.clone()),
                    client_nonce: Default::default(),
                };
                let tracer = crate::sim::trace::Trace::new(trace)?;
                let outcome = handset
                    .run_fota(&tracer)
                    .await
                    .map_err(|e| gateway_hint(e, &config.gateway_header))?;
                println!("{outcome}");
                match outcome {
                    crate::sim::omadm_handset::FotaOutcome::Updated { .. } => Ok(()),
                    other => anyhow::bail!("{other}"),
                }
            })
        }
        Command::Dm {
            command: DmCommand::Run(args),
        } => dm::run(&config, &args),
        Command::Dm {
            command: DmCommand::Job { id, json },
        } => dm::show(&config, id, json),
        Command::Dm {
            command: DmCommand::Jobs { device },
        } => dm::list(&config, &device),
        Command::Dm {
            command:
                DmCommand::Credentials {
                    device,
                    password,
                    server_password,
                },
        } => {
            let key = DeviceKey::parse(&device)?;
            let password = match password {
                Some(p) => p,
                None => read_secret("Device OMA-DM password")?,
            };
            let db = open(&config)?;
            let mut conn = db.get()?;
            let d = lookup::find(&mut conn, &key)?;
            let vault = vault(&config, &mut conn)?;
            let issued = crate::omadm::account::issue(
                &mut conn,
                &vault,
                &Actor::System("cli"),
                d.id,
                &crate::omadm::account::Given {
                    client_password: &password,
                    server_password: server_password.as_deref(),
                    server_id: None,
                },
            )?;
            let server_password = issued
                .generated_server_password
                .or(server_password)
                .unwrap_or_default();
            println!(
                "device {} (DevId {}) has OMA-DM credentials; server password {server_password}",
                d.id, issued.account.client_username
            );
            Ok(())
        }
        Command::Purge { older_than } => {
            let older = match older_than {
                Some(d) => {
                    crate::retention::purge::parse_duration(&d).map_err(|e| anyhow::anyhow!(e))?
                }
                None => config.retention_ms,
            };
            let db = open(&config)?;
            let opts = crate::retention::purge::PurgeOptions::new(older, &config.archive_dir);
            let run = crate::retention::purge::run(&db, "cli", &opts, &mut |r| {
                eprint!(
                    "\rpurge run {}: {} of {} subscribers archived ({}%)",
                    r.id,
                    r.profiles,
                    r.eligible,
                    r.percent()
                );
            })?;
            let Some(run) = run else {
                println!(
                    "nothing to purge: archived 0 subscriber(s) and 0 device(s); nobody was de-activated before {} (no archive run recorded)",
                    crate::timefmt::utc(crate::db::now_ms() - older)
                );
                return Ok(());
            };
            eprintln!();
            // The run's own folder: a resumed run may have begun elsewhere.
            println!(
                "purge run {} archived {} subscriber(s) and {} device(s) to {}",
                run.id,
                run.profiles,
                run.devices,
                crate::retention::archive::run_dir(std::path::Path::new(&run.archive_dir), run.id)
                    .display()
            );
            Ok(())
        }
        Command::Archive { command } => {
            let db = open(&config)?;
            let mut conn = db.get()?;
            match command {
                ArchiveCommand::List { json } => {
                    let runs = crate::retention::purge::recent(&mut conn, 100)?;
                    if json {
                        let rows: Vec<_> = runs
                            .iter()
                            .map(|r| {
                                serde_json::json!({
                                    "id": r.id,
                                    "state": r.state,
                                    "subscribers": r.profiles,
                                    "devices": r.devices,
                                    "started_at": r.started_at,
                                    "cutoff": r.cutoff,
                                    "archive_dir": r.archive_dir,
                                    "holder": r.holder,
                                    "error": r.error,
                                    "abandoned_by": r.abandoned_by,
                                    "abandoned_at": r.abandoned_at,
                                    "abandon_reason": r.abandon_reason,
                                })
                            })
                            .collect();
                        println!("{}", serde_json::to_string_pretty(&rows)?);
                        return Ok(());
                    }
                    for r in runs {
                        println!(
                            "{:>6}  {:<9}  {:>8} subscribers  {:>8} devices  started {}  cutoff {}",
                            r.id,
                            r.state,
                            r.profiles,
                            r.devices,
                            crate::timefmt::utc(r.started_at),
                            crate::timefmt::utc(r.cutoff)
                        );
                        // Why a run failed, or why it waits (its archive
                        // is on another node).
                        if !r.error.is_empty() {
                            println!("        {}", r.error);
                        }
                        if let Some(at) = r.abandoned_at {
                            println!(
                                "        abandoned by {} at {}: {}",
                                r.abandoned_by,
                                crate::timefmt::utc(at),
                                r.abandon_reason
                            );
                        } else if r.stalled(crate::db::now_ms()) {
                            // The way out when the archive is lost for good.
                            println!(
                                "        if its archive is lost for good: mdm archive abandon {} --reason TEXT",
                                r.id
                            );
                        }
                    }
                    Ok(())
                }
                ArchiveCommand::Abandon { id, reason } => {
                    let by = format!("cli:{}", cli_operator());
                    let run = crate::retention::purge::abandon(
                        &mut conn,
                        id,
                        &Actor::System("cli"),
                        &by,
                        &reason,
                    )?;
                    println!(
                        "purge run {} abandoned by {by}: it keeps the {} subscriber(s) and {} device(s) it archived (in {}), deletes nothing more, and a new purge can start",
                        run.id,
                        run.profiles,
                        run.devices,
                        crate::retention::archive::run_dir(
                            std::path::Path::new(&run.archive_dir),
                            run.id
                        )
                        .display()
                    );
                    Ok(())
                }
                ArchiveCommand::Show { id } => {
                    let run = crate::retention::purge::find(&mut conn, id)?;
                    let root = std::path::PathBuf::from(&run.archive_dir);
                    if run.state == "abandoned" {
                        // No manifest: what its archive still holds.
                        let mut notes = Vec::new();
                        let records =
                            crate::retention::restore::archived(&mut conn, &root, id, &mut notes)?;
                        println!(
                            "archive run {id} was abandoned by {} at {}: {}",
                            run.abandoned_by,
                            run.abandoned_at
                                .map(crate::timefmt::utc)
                                .unwrap_or_default(),
                            run.abandon_reason
                        );
                        for n in &notes {
                            eprintln!("note: {n}");
                        }
                        for r in records {
                            println!("{}  {} device(s)", r.mdn(), r.devices.len());
                        }
                        return Ok(());
                    }
                    if run.state != "completed" {
                        anyhow::bail!(
                            "archive run {id} is {} ({} subscriber(s) so far, in {}); it can be read once it has completed{}",
                            run.state,
                            run.profiles,
                            crate::retention::archive::run_dir(&root, id).display(),
                            if run.error.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", run.error)
                            }
                        );
                    }
                    let manifest = crate::retention::archive::read_manifest(&root, id)?;
                    println!("{}", serde_json::to_string_pretty(&manifest)?);
                    for r in crate::retention::archive::read_records(&root, id)? {
                        println!(
                            "{}  {}  {} device(s)  deactivated {}",
                            r.mdn(),
                            r.profile["subscriber_name"].as_str().unwrap_or(""),
                            r.devices.len(),
                            r.profile["state_changed_at"]
                                .as_i64()
                                .map(crate::timefmt::utc)
                                .unwrap_or_default()
                        );
                    }
                    Ok(())
                }
                ArchiveCommand::Restore { id, progress_every } => {
                    let run = crate::retention::purge::find(&mut conn, id)?;
                    let root = std::path::PathBuf::from(&run.archive_dir);
                    // Opens the archived DM secrets to seal them for the
                    // restored devices' new rows.
                    let vault = vault(&config, &mut conn)?;
                    let started = std::time::Instant::now();
                    let mut shown = started;
                    let report = crate::retention::restore::restore(
                        &mut conn,
                        &vault,
                        &root,
                        id,
                        &Actor::System("cli-restore"),
                        &mut |done, total| {
                            // Every few seconds too: one record can hold
                            // many devices and their FOTA history.
                            if done % progress_every.max(1) != 0
                                && done != total
                                && shown.elapsed().as_secs() < 5
                            {
                                return;
                            }
                            shown = std::time::Instant::now();
                            eprint!(
                                "\rrestore of run {id}: {done} of {total} archived record(s) done ({} s)",
                                started.elapsed().as_secs()
                            );
                            if done == total {
                                eprintln!();
                            }
                        },
                    )?;
                    for s in &report.skipped {
                        eprintln!("skipped {s}");
                    }
                    for n in &report.notes {
                        eprintln!("note: {n}");
                    }
                    println!(
                        "restored {} subscriber(s) and {} device(s) from run {id}, with {} OMA-DM account(s) and {} FOTA session(s); {}",
                        report.profiles,
                        report.devices,
                        report.dm_accounts,
                        report.fota_sessions,
                        crate::retention::restore::NOT_RESTORED
                    );
                    Ok(())
                }
            }
        }
        Command::Demo { subscribers } => {
            let db = open(&config)?;
            let report = crate::demo::load_for(&config, &db, subscribers, &mut |done| {
                eprint!("\rloading demo data: {done}/{subscribers}");
            })?;
            eprintln!();
            println!("demo data: {report}");
            Ok(())
        }
    }
}

/// Who runs this command, as an import records its starter: the login
/// name and the host.
fn cli_operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("{user}@{host}"),
        None => user,
    }
}

/// Prints import progress on standard error until told to stop.
fn spawn_progress(progress: Arc<Progress>) -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            let total = progress.total.load(Ordering::Relaxed);
            eprint!(
                "\rchecked {}/{total}, written {}/{total}",
                progress.checked.load(Ordering::Relaxed),
                progress.written.load(Ordering::Relaxed)
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    });
    stop
}

fn print_device(v: &lookup::DeviceView) {
    let d = &v.device;
    println!("Device {}", d.id);
    println!("  ESN:        {}", d.esn.as_deref().unwrap_or("-"));
    println!("  MEID:       {}", d.meid.as_deref().unwrap_or("-"));
    println!("  pESN:       {}", d.pesn.as_deref().unwrap_or("-"));
    println!("  Make/model: {} {}", d.make, d.model);
    println!("  Firmware:   {}", d.firmware_version);
    println!(
        "  State:      {}",
        crate::registry::profile::ActivationState::parse(&d.activation_state)
            .map_or(d.activation_state.as_str(), |s| s.label())
    );
    println!(
        "  Last contact: {} ({})",
        crate::timefmt::utc_opt(d.last_contact_at),
        d.last_protocol.as_deref().unwrap_or("-")
    );
    match &v.profile {
        Some(p) => {
            println!("Profile {}", p.id);
            println!("  MDN/MIN:    {} / {}", p.mdn, p.min);
            println!(
                "  Subscriber: {} (account {})",
                p.subscriber_name, p.account_id
            );
            println!(
                "  Line state: {} since {}",
                p.state().label(),
                crate::timefmt::utc(p.state_changed_at)
            );
            println!(
                "  PRL:        {}",
                p.prl_id
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into())
            );
        }
        None => println!("Profile: none"),
    }
    match &v.capability {
        Some(c) => println!(
            "Capability: {} ({}), FOTA {}, BREW {}, features [{}]",
            c.protocol().label(),
            c.version_range(),
            if c.fota { "yes" } else { "no" },
            if c.brew { "yes" } else { "no" },
            c.features
        ),
        None => println!("Capability: not registered"),
    }
    if let Some(i) = &v.iota_support {
        println!("IOTA support: {i}");
    }
}

/// A simulated handset's FOTA request the server would not identify: the
/// simulator plays the WAP gateway, which the server believes only from an
/// address it was told to trust.
pub(crate) fn gateway_hint(e: crate::sim::SimError, header: &str) -> anyhow::Error {
    match &e {
        crate::sim::SimError::Server {
            status: 400, body, ..
        } if body.contains("MDM_TRUSTED_GATEWAYS") => {
            anyhow::anyhow!(
                "{e}\nhint: the simulator plays the WAP gateway and names the handset in the \
                 {header} header: start the server with MDM_TRUSTED_GATEWAYS set to this \
                 machine's address (127.0.0.1 for a server on this machine)"
            )
        }
        _ => e.into(),
    }
}
