//! SIGINT and SIGTERM during a failover: caught, so the work under way is
//! dropped (its child processes killed, its password files and partial
//! dumps removed with it) and the run ends saying where it stopped, rather
//! than dying with orphans and secrets left behind.

use tokio::sync::watch;

/// The first SIGINT or SIGTERM this process receives, by name, seen by
/// every waiter. Listening replaces the signals' default (terminating the
/// process) for the rest of the run.
#[derive(Clone)]
pub struct Interrupt(watch::Receiver<Option<&'static str>>);

impl Interrupt {
    /// Starts listening (a task that lives as long as the runtime).
    pub fn listen() -> Interrupt {
        let (sender, receiver) = watch::channel(None);
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                // Without handlers the defaults stay: the run is killed as before.
                return;
            };
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            // Kept until the process ends: a waiter that comes later still sees it.
            let _ = sender.send(Some(name));
            std::future::pending::<()>().await;
        });
        Interrupt(receiver)
    }

    /// Waits for the signal; returns its name.
    pub async fn received(&self) -> &'static str {
        let mut receiver = self.0.clone();
        match receiver.wait_for(Option::is_some).await {
            Ok(name) => name.unwrap_or("a signal"),
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signal_is_seen_by_every_waiter() {
        let interrupt = Interrupt::listen();
        // The listener registers its handlers as soon as it first runs.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let other = interrupt.clone();
        let (first, second) = tokio::time::timeout(Duration::from_secs(5), async {
            futures::join!(interrupt.received(), other.received())
        })
        .await
        .expect("the signal is seen");
        assert_eq!((first, second), ("SIGTERM", "SIGTERM"));
        // A waiter that comes later sees it too.
        assert_eq!(interrupt.received().await, "SIGTERM");
    }
}
