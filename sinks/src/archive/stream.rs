//! One container's lines, object after object, and the merge of several containers by time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt as _};
use jiff::Timestamp;
use kle_core::lines::{Lines, LinesBuilder};
use kle_core::{Container, LogBatch};

use super::decode::{Decoded, Inflater, LineDecoder, Position};
use super::plan::{ContainerPlan, Listed};
use super::source::Source;
use super::{ArchivedGap, Filter, ReadError, ReadStats, Record};

/// The object being read.
struct Body {
    key: String,
    bytes: BoxStream<'static, Result<Bytes, ReadError>>,
    inflater: Inflater,
    decoder: LineDecoder,
}

/// Reads one container's objects in order, each line once.
pub(crate) struct ContainerReader {
    container: Arc<Container>,
    objects: VecDeque<Listed>,
    body: Option<Body>,
    position: Position,
    ready: VecDeque<Record>,
}

impl ContainerReader {
    pub(crate) fn new(plan: ContainerPlan) -> Self {
        Self {
            container: plan.container,
            objects: plan.objects.into(),
            body: None,
            position: Position::default(),
            ready: VecDeque::new(),
        }
    }

    /// The next lines or gap; `None` after the last object.
    pub(crate) async fn next(
        &mut self,
        source: &Source,
        filter: &Filter,
        stats: &mut ReadStats,
    ) -> Result<Option<Record>, ReadError> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Ok(Some(record));
            }
            let body = match &mut self.body {
                Some(body) => body,
                None => {
                    let Some(object) = self.objects.pop_front() else {
                        return Ok(None);
                    };
                    self.position.start_object(object.parsed.first);
                    let not_archive = |reason: String| ReadError::NotAnArchive {
                        key: object.key.clone(),
                        reason,
                    };
                    let inflater = Inflater::new(object.parsed.packing).map_err(|e| not_archive(e.to_string()))?;
                    let bytes = source.fetch(&object.key).await?;
                    self.body.insert(Body {
                        key: object.key,
                        bytes,
                        inflater,
                        decoder: LineDecoder::new(object.parsed.encoding),
                    })
                }
            };
            let mut out = Assembler::new(&self.container, &mut self.position, filter, &mut self.ready);
            match body.bytes.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    stats.bytes += chunk.len() as u64;
                    let Body {
                        inflater, decoder, key, ..
                    } = body;
                    let decoded = inflater.push(&chunk, |piece| {
                        decoder
                            .push(piece, &mut |line| out.take(line))
                            .map_err(std::io::Error::other)
                    });
                    decoded.map_err(|err| ReadError::NotAnArchive {
                        key: key.clone(),
                        reason: err.to_string(),
                    })?;
                }
                None => {
                    let Some(Body {
                        key,
                        inflater,
                        mut decoder,
                        ..
                    }) = self.body.take()
                    else {
                        continue;
                    };
                    let not_archive = |reason: String| ReadError::NotAnArchive {
                        key: key.clone(),
                        reason,
                    };
                    inflater
                        .finish(|piece| {
                            decoder
                                .push(piece, &mut |line| out.take(line))
                                .map_err(std::io::Error::other)
                        })
                        .map_err(|err| not_archive(format!("it ends inside a compressed frame ({err})")))?;
                    decoder.finish(&mut |line| out.take(line)).map_err(not_archive)?;
                    stats.objects_read += 1;
                }
            }
            stats.lines += out.finish();
        }
    }
}

/// Collects the decoded lines of one chunk into records, leaving out copies and lines outside
/// the time range.
struct Assembler<'a> {
    container: &'a Arc<Container>,
    position: &'a mut Position,
    filter: &'a Filter,
    ready: &'a mut VecDeque<Record>,
    lines: Option<LinesBuilder>,
    count: u64,
}

impl<'a> Assembler<'a> {
    fn new(
        container: &'a Arc<Container>,
        position: &'a mut Position,
        filter: &'a Filter,
        ready: &'a mut VecDeque<Record>,
    ) -> Self {
        Self {
            container,
            position,
            filter,
            ready,
            lines: None,
            count: 0,
        }
    }

    fn take(&mut self, decoded: Decoded<'_>) {
        if !self.position.admit(&decoded) {
            return;
        }
        if let Some(t) = decoded.timestamp()
            && (self.filter.since.is_some_and(|since| t < since) || self.filter.until.is_some_and(|until| t > until))
        {
            return;
        }
        match decoded {
            Decoded::Line { raw, kind, .. } => {
                let builder = self.lines.take().unwrap_or_else(Lines::builder);
                self.lines = Some(builder.line(raw, kind));
                self.count += 1;
            }
            Decoded::Gap { at, reason, text, .. } => {
                self.flush();
                self.ready.push_back(Record::Gap(ArchivedGap {
                    container: Arc::clone(self.container),
                    at,
                    reason,
                    text,
                }));
            }
        }
    }

    fn flush(&mut self) {
        if let Some(builder) = self.lines.take() {
            self.ready.push_back(Record::Lines(LogBatch::new(
                Arc::clone(self.container),
                builder.build(),
            )));
        }
    }

    /// Lines taken.
    fn finish(mut self) -> u64 {
        self.flush();
        self.count
    }
}

/// The next record of one container in a merge, and how far its lines were printed.
struct Head {
    record: Record,
    at: usize,
}

impl Head {
    /// When its next line was written; untimed lines go first.
    fn key(&self) -> Timestamp {
        let timestamp = match &self.record {
            Record::Lines(batch) => batch.lines.get(self.at).and_then(|line| line.timestamp()),
            Record::Gap(gap) => gap.at,
        };
        timestamp.unwrap_or(Timestamp::MIN)
    }
}

/// Containers merged by time: a k-way merge holding one record per container.
pub(crate) struct Merge {
    readers: Vec<ContainerReader>,
    heads: Vec<Option<Head>>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    started: bool,
}

impl Merge {
    pub(crate) fn new(readers: Vec<ContainerReader>) -> Self {
        let heads = readers.iter().map(|_| None).collect();
        Self {
            readers,
            heads,
            heap: BinaryHeap::new(),
            started: false,
        }
    }

    async fn refill(
        &mut self,
        index: usize,
        source: &Source,
        filter: &Filter,
        stats: &mut ReadStats,
    ) -> Result<(), ReadError> {
        let record = self.readers[index].next(source, filter, stats).await?;
        if let Some(record) = record {
            let head = Head { record, at: 0 };
            self.heap.push(Reverse((head.key(), index)));
            self.heads[index] = Some(head);
        }
        Ok(())
    }

    /// The next record in time order: a gap, or the lines of one container up to the next
    /// line of another.
    pub(crate) async fn next(
        &mut self,
        source: &Source,
        filter: &Filter,
        stats: &mut ReadStats,
    ) -> Result<Option<Record>, ReadError> {
        if !self.started {
            self.started = true;
            for index in 0..self.readers.len() {
                self.refill(index, source, filter, stats).await?;
            }
        }
        let Some(Reverse((_, index))) = self.heap.pop() else {
            return Ok(None);
        };
        // The next container's position: lines at the same time go in container order.
        let bound = self.heap.peek().map(|Reverse(key)| *key);
        let Some(mut head) = self.heads[index].take() else {
            return Ok(None);
        };
        let out = match &head.record {
            Record::Gap(_) => {
                let Head { record, .. } = head;
                self.refill(index, source, filter, stats).await?;
                return Ok(Some(record));
            }
            Record::Lines(batch) => {
                let len = batch.lines.len();
                let start = head.at;
                let mut end = start + 1;
                while end < len {
                    let next = batch
                        .lines
                        .get(end)
                        .and_then(|line| line.timestamp())
                        .unwrap_or(Timestamp::MIN);
                    if bound.is_some_and(|bound| (next, index) > bound) {
                        break;
                    }
                    end += 1;
                }
                head.at = end;
                if start == 0 && end == len {
                    None
                } else {
                    Some(LogBatch::new(
                        Arc::clone(&batch.container),
                        batch.lines.slice(start..end),
                    ))
                }
            }
        };
        let whole = head.at >= lines_of(&head.record);
        let record = match out {
            Some(batch) => Record::Lines(batch),
            None => {
                let Head { record, .. } = head;
                self.refill(index, source, filter, stats).await?;
                return Ok(Some(record));
            }
        };
        if whole {
            self.refill(index, source, filter, stats).await?;
        } else {
            self.heap.push(Reverse((head.key(), index)));
            self.heads[index] = Some(head);
        }
        Ok(Some(record))
    }
}

fn lines_of(record: &Record) -> usize {
    match record {
        Record::Lines(batch) => batch.lines.len(),
        Record::Gap(_) => 1,
    }
}
