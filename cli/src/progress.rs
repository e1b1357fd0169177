//! What a person at a terminal sees of a one-shot export: a live progress line on stderr while
//! it runs and a table per namespace at the end. Nothing when stderr is not a terminal or with
//! `-q`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use kle_core::{ExportReport, Metrics};
use tokio::task::JoinHandle;

/// The progress line, redrawn five times a second until [`ProgressLine::stop`].
pub(crate) struct ProgressLine(JoinHandle<()>);

impl ProgressLine {
    pub(crate) fn start(metrics: Arc<Metrics>) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let p = metrics.progress();
                let mut stderr = std::io::stderr().lock();
                let _ = write!(
                    stderr,
                    "\r\x1b[K{}/{} containers, {} lines, {}",
                    p.done,
                    p.total,
                    p.lines,
                    human_bytes(p.bytes)
                );
                let _ = stderr.flush();
            }
        }))
    }

    /// Stops redrawing and clears the line.
    pub(crate) fn stop(self) {
        self.0.abort();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[K");
        let _ = stderr.flush();
    }
}

/// `1.5 MiB`, `312 B`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Per namespace: containers, lines, bytes, gaps; then the totals.
pub(crate) fn summary_table(report: &ExportReport) -> String {
    #[derive(Default)]
    struct Row {
        containers: usize,
        lines: u64,
        bytes: u64,
        gaps: usize,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (namespace, totals) in &report.delivery.namespaces {
        let row = rows.entry(namespace.clone()).or_default();
        row.containers += totals.containers;
        row.lines += totals.lines;
        row.bytes += totals.bytes;
    }
    for gap in &report.summary.gaps {
        rows.entry(gap.container.namespace().to_owned()).or_default().gaps += 1;
    }
    let total = rows.values().fold(Row::default(), |t, r| Row {
        containers: t.containers + r.containers,
        lines: t.lines + r.lines,
        bytes: t.bytes + r.bytes,
        gaps: t.gaps + r.gaps,
    });
    let width = rows.keys().map(String::len).max().unwrap_or(0).max("NAMESPACE".len());
    let mut out = format!(
        "{:<width$}  {:>10}  {:>12}  {:>10}  {:>5}\n",
        "NAMESPACE", "CONTAINERS", "LINES", "BYTES", "GAPS"
    );
    let line = |name: &str, r: &Row| {
        format!(
            "{name:<width$}  {:>10}  {:>12}  {:>10}  {:>5}\n",
            r.containers,
            r.lines,
            human_bytes(r.bytes),
            r.gaps
        )
    };
    for (namespace, row) in &rows {
        out.push_str(&line(namespace, row));
    }
    if rows.len() > 1 {
        out.push_str(&line("total", &total));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
