//! The `hearsay` command: serve, and check configuration and zone files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hickory_proto::rr::Name;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use hearsay::Server;

// glibc's allocator fragments badly under a cache's mix of small long-lived
// entries and short-lived query buffers: resident memory per cached RRset
// was 1282 bytes with it and 518 with mimalloc (benches/cache_vs_unbound.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hearsay::config::{Config, LogLevel};
use hearsay::zone::{Zone, ZoneOutcome, ZoneSet};

#[derive(Parser)]
#[command(
    name = "hearsay",
    version,
    about = "A caching DNS resolver and authoritative server whose instances share their caches"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (without --config: loopback port 5353, built-in defaults).
    Serve {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and every zone it names, then exit.
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
    },
    /// Talk to a running server over its control socket.
    #[command(after_help = hearsay::control::COMMANDS)]
    Ctl {
        /// The configuration file the server read; its [control] socket
        /// is used.
        #[arg(long, short, default_value = "/etc/hearsay/hearsay.toml")]
        config: PathBuf,
        /// The control socket itself, for when the config file cannot be
        /// read (say, while it is being fixed).
        #[arg(long, short)]
        socket: Option<PathBuf>,
        /// The command and its arguments.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Check one zone file, then exit.
    CheckZone {
        /// The zone's origin, e.g. example.com.
        origin: String,
        /// The master file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(config),
        Command::CheckConfig { file } => check_config(file),
        Command::CheckZone { origin, file } => check_zone(&origin, file),
        Command::Ctl {
            config,
            socket,
            command,
        } => ctl(&config, socket, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hearsay: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_path: Option<PathBuf>) -> Result<(), String> {
    let config = match &config_path {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    init_logging(config.log.level);
    // One worker is best served by the single-threaded scheduler: no
    // hand-over between the thread that blocks on the server and a worker,
    // and no work stealing to pay for.
    let runtime = match config.server.worker_threads() {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        threads => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build(),
    }
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let server = Server::start(&config).await.map_err(|e| e.to_string())?;
        let mut hangup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        info!(version = env!("CARGO_PKG_VERSION"), "hearsay is serving");
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    info!("SIGHUP: reloading");
                    if config_path.is_none() {
                        server.reload_zones();
                    } else if let Err(e) = server.reload() {
                        warn!("reload failed: {e}");
                    }
                }
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

fn ctl(
    config: &std::path::Path,
    socket: Option<PathBuf>,
    mut command: Vec<String>,
) -> Result<(), String> {
    let socket = match socket {
        Some(socket) => socket,
        None => {
            let loaded = Config::load(config)
                .map_err(|e| format!("{e} (to reach the server anyway: --socket PATH)"))?;
            loaded
                .control
                .socket
                .ok_or_else(|| format!("{}: no [control] socket is configured", config.display()))?
        }
    };
    // Files are opened by the server, from its own directory: pass
    // absolute paths.
    if let [verb, file] = &mut command[..]
        && (verb == "dump-cache" || verb == "load-cache")
    {
        let path = PathBuf::from(&*file);
        if path.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            *file = cwd.join(path).to_string_lossy().into_owned();
        }
    }
    let text = hearsay::control::request(&socket, &command)?;
    print!("{text}");
    Ok(())
}

fn init_logging(level: LogLevel) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn check_config(file: PathBuf) -> Result<(), String> {
    let config = Config::load(&file).map_err(|e| e.to_string())?;
    let (_, outcomes) = ZoneSet::load(&config.zone_sources(), None);
    let mut failed = 0;
    for outcome in &outcomes {
        match outcome {
            ZoneOutcome::Loaded { warnings, .. } => {
                for warning in warnings {
                    eprintln!("warning: {warning}");
                }
            }
            ZoneOutcome::Failed { error, .. } => {
                eprintln!("hearsay: {error}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!(
            "{}: {failed} zone(s) failed to load",
            file.display()
        ));
    }
    println!("{}: ok, {} zone(s)", file.display(), outcomes.len());
    Ok(())
}

fn check_zone(origin: &str, file: PathBuf) -> Result<(), String> {
    let mut origin =
        Name::from_ascii(origin).map_err(|e| format!("{origin:?} is not a domain name: {e}"))?;
    origin.set_fqdn(true);
    // Every error, each on its own line as the first is.
    let (zone, warnings) =
        Zone::load(&origin, &file).map_err(|e| e.to_string().replace('\n', "\nhearsay: "))?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    let stats = zone.stats();
    println!(
        "{}: zone {origin} serial {}: {} records in {} RRsets at {} names, {} delegation(s)",
        file.display(),
        stats.serial,
        stats.records,
        stats.rrsets,
        stats.names,
        stats.delegations
    );
    // The process ends here: handing a large zone's millions of allocations
    // back one by one would only delay the exit.
    std::mem::forget(zone);
    Ok(())
}
