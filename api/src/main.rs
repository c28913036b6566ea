//! Todo list API: a small axum service that keeps its items in memory.
//!
//! `api` serves on 0.0.0.0:$PORT (default 8080); `api healthcheck` probes a running
//! instance on 127.0.0.1:$PORT and exits 0 only if /health answers 200.

mod app;
mod healthcheck;

use std::env;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("api: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let port = match env::var("PORT") {
        Ok(port) => port.parse().map_err(|_| format!("invalid PORT {port:?}"))?,
        Err(_) => 8080,
    };
    match env::args().nth(1).as_deref() {
        None => serve(port),
        Some("healthcheck") => Ok(healthcheck::check(port)?),
        Some(other) => Err(format!("unknown subcommand {other:?} (expected `healthcheck`)").into()),
    }
}

#[tokio::main]
async fn serve(port: u16) -> Result<(), Box<dyn Error>> {
    let revision = env::var("APP_REVISION").unwrap_or_else(|_| "unknown".into());
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await?;
    eprintln!(
        "api: listening on {} (version {}, revision {revision})",
        listener.local_addr()?,
        env!("CARGO_PKG_VERSION"),
    );
    let mut sigterm = signal(SignalKind::terminate())?;
    axum::serve(listener, app::router(&revision))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = sigterm.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            eprintln!("api: shutting down");
        })
        .await?;
    Ok(())
}
