//! The `mdm` command line: serve, migrate, user, token, import, device, demo.

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
enum DeviceCommand {
    /// Show a device, its profile and its capability. ID is an ESN, MEID or MDN.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MDM_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let json = std::env::var("MDM_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, 2)?;
    db.migrate()?;
    Ok(db)
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

fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                if demo {
                    let db = crate::open_database(&config).await?;
                    let report = tokio::task::spawn_blocking(move || {
                        crate::demo::load(&db, 5000, &mut |_| {})
                    })
                    .await??;
                    eprintln!("demo data: {report}");
                }
                let app = Application::build(config.clone()).await?;
                tracing::info!(bind = %config.bind, port = app.port(), "MDM platform listening");
                eprintln!(
                    "MDM platform listening on http://{}",
                    config.bind.replace(":0", &format!(":{}", app.port()))
                );
                app.run_until_stopped().await?;
                anyhow::Ok(())
            })
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url, 1)?;
            let applied = db.migrate()?;
            println!("{applied} migration(s) applied on {}", db.backend().name());
            Ok(())
        }
        Command::User {
            command: UserCommand::Add { username, role },
        } => {
            let role = Role::parse_staff(&role)
                .ok_or_else(|| anyhow::anyhow!("role must be admin, operator, firmware or care"))?;
            let password = read_secret("Password")?;
            let db = open(&config)?;
            let mut conn = db.get()?;
            let user = users::create(&mut conn, &Actor::System("cli"), &username, &password, role)?;
            println!("user {} created with role {}", user.username, role.as_str());
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, role, days },
        } => {
            let role = Role::parse_staff(&role)
                .ok_or_else(|| anyhow::anyhow!("role must be admin, operator, firmware or care"))?;
            let db = open(&config)?;
            let mut conn = db.get()?;
            let (token, secret) =
                tokens::create(&mut conn, &Actor::System("cli"), &name, role, days)?;
            eprintln!(
                "token {} ({}) created; it is shown only this once:",
                token.name,
                role.as_str()
            );
            println!("{secret}");
            Ok(())
        }
        Command::Import { file } => {
            let mut data = Vec::new();
            std::fs::File::open(&file)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let db = open(&config)?;
            let progress = Progress::shared();
            let watcher = spawn_progress(progress.clone());
            let mut conn = db.get()?;
            let report = import::import_csv(
                &mut conn,
                &Actor::System("cli-import"),
                data.as_slice(),
                &progress,
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
                anyhow::bail!(
                    "{} problem(s) found; nothing was imported",
                    report.errors.len()
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
                &config.data_dir,
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
        Command::Demo { subscribers } => {
            let db = open(&config)?;
            let report = crate::demo::load(&db, subscribers, &mut |done| {
                eprint!("\rloading demo data: {done}/{subscribers}");
            })?;
            eprintln!();
            println!("demo data: {report}");
            Ok(())
        }
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
                "  State:      {} since {}",
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
