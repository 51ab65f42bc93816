//! Stopping on a signal: SIGTERM (what service managers and `kill` send) and SIGINT (Ctrl-C)
//! both mean "stop taking requests, finish what runs, then exit".

/// The signal that asked the server to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopSignal {
    /// SIGTERM.
    Terminate,
    /// SIGINT (Ctrl-C).
    Interrupt,
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        })
    }
}

/// Resolves on the first SIGTERM or SIGINT, with which one it was. The handlers are installed
/// when this is first polled, and stay: a later signal is not the default "die at once" but
/// is delivered to the next call (a second Ctrl-C can be waited for the same way).
///
/// # Errors
/// When the signal handlers cannot be installed (no tokio reactor with signals enabled).
pub async fn stop_signal() -> std::io::Result<StopSignal> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = terminate.recv() => Ok(StopSignal::Terminate),
            _ = interrupt.recv() => Ok(StopSignal::Interrupt),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| StopSignal::Interrupt)
    }
}

/// Watches for the signals that stop a server: the receiver turns `true` at the first SIGTERM
/// or SIGINT, after `first` is told which (to say how long running transfers get), and a
/// second signal ends the process at once with status 130. When the handlers cannot be
/// installed, `first` is never called and the server runs until killed (logged).
///
/// Call within a tokio runtime with signals enabled.
#[must_use]
pub fn stop_on_signals(
    first: impl FnOnce(StopSignal) + Send + 'static,
) -> tokio::sync::watch::Receiver<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        match stop_signal().await {
            Ok(signal) => first(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot wait for signals: serving until killed");
                return;
            }
        }
        let _ = stop.send(true);
        let _ = stop_signal().await;
        std::process::exit(130);
    });
    stopped
}
