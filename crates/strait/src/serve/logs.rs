//! Negotiation log lines for DescribeVpnConnectionLogs: every tracing event that names a tunnel
//! (`tunnel = ...`) is also sent, as one line of text, to the store writer.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Lines queued for the store before new ones are dropped (the store is slow only when the disk is).
const QUEUE: usize = 4096;

/// One log line about a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelLine {
    /// The tunnel it is about.
    pub tunnel_id: String,
    /// When, ms since the epoch.
    pub time_ms: i64,
    /// Level, message and the event's other fields.
    pub line: String,
}

/// A tracing layer that forwards events carrying a `tunnel` field.
pub struct TunnelLogLayer {
    tx: mpsc::Sender<TunnelLine>,
}

/// The layer and the receiving end of its lines.
pub fn layer() -> (TunnelLogLayer, mpsc::Receiver<TunnelLine>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (TunnelLogLayer { tx }, rx)
}

impl<S: Subscriber> Layer<S> for TunnelLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if self.tx.is_closed() {
            return;
        }
        let mut v = LineVisitor::default();
        event.record(&mut v);
        let Some(tunnel_id) = v.tunnel else {
            return;
        };
        let level = *event.metadata().level();
        let mut line = String::new();
        if level != Level::INFO {
            let _ = write!(line, "{level} ");
        }
        line.push_str(&v.message);
        line.push_str(&v.fields);
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // A full queue drops the line rather than stall the gateway.
        let _ = self.tx.try_send(TunnelLine {
            tunnel_id,
            time_ms,
            line,
        });
    }
}

/// Collects an event's message, its `tunnel` field and the rest as ` key=value`.
#[derive(Default)]
struct LineVisitor {
    tunnel: Option<String>,
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "tunnel" => self.tunnel = Some(format!("{value:?}")),
            "message" => self.message = format!("{value:?}"),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_naming_a_tunnel_become_its_log_lines() {
        let (layer, mut rx) = layer();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let id = "tun-1";
            tracing::info!(tunnel = %id, local = "203.0.113.1:500", "IKE SA established");
            tracing::warn!(tunnel = %id, "negotiation failed: {}", "no proposal chosen");
            tracing::info!("API listening");
        });
        let first = rx.try_recv().unwrap();
        assert_eq!(first.tunnel_id, "tun-1");
        assert_eq!(first.line, "IKE SA established local=203.0.113.1:500");
        assert!(first.time_ms > 0);
        assert_eq!(
            rx.try_recv().unwrap().line,
            "WARN negotiation failed: no proposal chosen"
        );
        assert!(rx.try_recv().is_err(), "lines without a tunnel stay out");
    }
}
