//! `read SOURCE`: an archive back to stdout, through `kle_sinks::archive` and the encoders.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kle_sinks::archive::{ArchiveReader, Filter, ReadStats, Record, Source};
use kle_sinks::encode::Encoder;
use kle_sinks::s3::S3Config;
use kle_sinks::stdout::StdoutConfig;

use crate::args::ReadArgs;
use crate::failure::{EXIT_OK, Failure};
use crate::progress::human_bytes;
use crate::settings::{color_choice, format_kind};

/// Output is written in pieces of about this size.
const FLUSH_BYTES: usize = 256 * 1024;

pub(crate) async fn read(args: ReadArgs) -> Result<u8, Failure> {
    let source = Source::open(&args.source, &s3_settings(&args)).map_err(Failure::Read)?;
    let described = source.describe();
    let template = match &source {
        Source::Directory(_) => args.layout.clone(),
        _ => args.s3_key_template.clone(),
    };
    let mut reader = ArchiveReader::new(source)
        .with_filter(filter(&args)?)
        .with_merge(args.merge);
    if let Some(template) = template {
        reader = reader.with_template(template);
    }
    let mut reading = reader.open().await.map_err(Failure::Read)?;
    let planned = reading.stats();
    if planned.containers == 0 {
        return Err(Failure::NothingMatched(format!(
            "the selectors and time range in {described} ({} keys of other objects skipped)",
            planned.foreign
        )));
    }
    let format = output_format(&args)?;
    let mut encoder = Encoder::new(format.clone());
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(Progress::new);
    let mut out = Vec::with_capacity(FLUSH_BYTES * 2);
    let mut gaps = Vec::new();
    let mut stdout = std::io::stdout().lock();
    while let Some(record) = reading.next().await.map_err(Failure::Read)? {
        match record {
            Record::Lines(batch) => encoder.encode(&batch, &mut out),
            Record::Gap(gap) => {
                if let Some(progress) = &progress {
                    progress.clear();
                }
                eprintln!("warning: {gap}");
                gap.encode(&format, &mut out);
                gaps.push(gap.to_string());
            }
        }
        if out.len() >= FLUSH_BYTES {
            if !write(&mut stdout, &out)? {
                return Ok(EXIT_OK);
            }
            out.clear();
        }
        if let Some(progress) = &progress {
            progress.tick(reading.stats());
        }
    }
    if !write(&mut stdout, &out)? || stdout.flush().is_err() {
        return Ok(EXIT_OK);
    }
    if let Some(progress) = progress {
        progress.finish(reading.stats());
    }
    if args.fail_on_gap && !gaps.is_empty() {
        return Err(Failure::Gaps(gaps));
    }
    Ok(EXIT_OK)
}

/// The store client's settings from the flags; everything else from the environment
/// (`AWS_*`, `AZURE_*`, `GOOGLE_*`), as for export.
fn s3_settings(args: &ReadArgs) -> S3Config {
    let mut config = S3Config::new("s3://unused");
    args.store.overlay(&mut config);
    config
}

fn filter(args: &ReadArgs) -> Result<Filter, Failure> {
    let mut builder = Filter::builder()
        .with_exclude_pods(args.exclude_pod.iter().cloned())
        .with_exclude_containers(args.exclude_container.iter().cloned());
    if !args.namespaces.is_empty() {
        builder = builder.with_namespaces(args.namespaces.iter().cloned());
    }
    if let Some(pod) = &args.pod {
        builder = builder.with_pod(pod.clone());
    }
    if let Some(container) = &args.container {
        builder = builder.with_container(container.clone());
    }
    let since = match (args.since, args.since_time) {
        (Some(ago), _) => {
            let ago = SignedDuration::try_from(ago).map_err(|_| Failure::Usage("--since is too long".into()))?;
            Some(
                Timestamp::now()
                    .checked_sub(ago)
                    .map_err(|_| Failure::Usage("--since reaches before the year -9999".into()))?,
            )
        }
        (None, since) => since,
    };
    if let Some(since) = since {
        builder = builder.with_since(since);
    }
    if let Some(until) = args.until {
        if since.is_some_and(|since| since > until) {
            return Err(Failure::Usage(format!(
                "--until {until} is before the start of the range: nothing could be printed"
            )));
        }
        builder = builder.with_until(until);
    }
    builder.build().map_err(Failure::Read)
}

fn output_format(args: &ReadArgs) -> Result<kle_sinks::encode::Format, Failure> {
    let mut config = StdoutConfig::new(format_kind(args.output))
        .with_timestamps(args.timestamps)
        .with_color(color_choice(args.color));
    if let Some(template) = &args.template {
        config = config.with_template(template.clone());
    }
    config.validate()?;
    Ok(config.format())
}

/// Writes `bytes`; false when the reader went away (`| head`), which ends the read quietly.
fn write(stdout: &mut std::io::StdoutLock<'_>, bytes: &[u8]) -> Result<bool, Failure> {
    match stdout.write_all(bytes) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(Failure::Output(format!("cannot write to standard output: {err}"))),
    }
}

/// The progress line on a terminal: objects, lines and bytes read, redrawn at most five times
/// a second as the reading goes (no task of its own: the reading is the only work).
struct Progress {
    last: std::cell::Cell<Instant>,
}

impl Progress {
    fn new() -> Self {
        Self {
            last: std::cell::Cell::new(Instant::now()),
        }
    }

    fn tick(&self, stats: ReadStats) {
        if self.last.get().elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last.set(Instant::now());
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r\x1b[K{}/{} objects, {} lines, {} of {}",
            stats.objects_read,
            stats.objects,
            stats.lines,
            human_bytes(stats.bytes),
            human_bytes(stats.object_bytes)
        );
        let _ = stderr.flush();
    }

    fn clear(&self) {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[K");
        let _ = stderr.flush();
    }

    fn finish(self, stats: ReadStats) {
        self.clear();
        let mut skipped = String::new();
        if stats.overlapped > 0 {
            skipped.push_str(&format!(", {} overlapping copies skipped", stats.overlapped));
        }
        if stats.foreign > 0 {
            skipped.push_str(&format!(", {} other objects skipped", stats.foreign));
        }
        eprintln!(
            "{} lines from {} objects ({}) of {} containers{skipped}",
            stats.lines,
            stats.objects_read,
            human_bytes(stats.bytes),
            stats.containers
        );
    }
}
