//! Downloading a batch of messages: RETR pipelined, each message streamed
//! into `tmp/` of the Maildir as it arrives, checked against its announced
//! size, then handed to a syncer thread that makes finished messages
//! durable in batches and renames them into `new/`, while the network keeps
//! going. Nothing here decides what may be deleted; the caller reads the
//! fates.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::net::{Mailbox, Outcome, RetrSink, StreamError, Transport};
use crate::pop3::MsgNum;
use crate::store::{Maildir, RetrievedCache, StoreError};

use super::{Error, Progress};

/// One message to download.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub key: String,
    pub number: MsgNum,
    pub size_bytes: u64,
    /// The Maildir base name, chosen (and recorded as `Saving`) beforehand.
    pub name: String,
    /// A copy kept from a preview may stand in for the RETR.
    pub may_use_copy: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Complete, synced and in `new/` (durable once `new/` is synced).
    Saved {
        bytes: u64,
        size_mismatch: bool,
    },
    Failed(String),
    /// Not reached: the batch stopped earlier.
    NotReached,
}

pub(crate) struct DownloadOutcome {
    pub fates: Vec<Fate>,
    /// What stopped the batch, if anything. The connection must then be
    /// dropped without QUIT.
    pub fatal: Option<Error>,
}

/// Most messages made durable by one flush.
const SYNC_BATCH: usize = 1024;

/// Downloads `targets`. A message already retrieved whole for its preview
/// (`retrieved`) is taken from there instead of the server, through the
/// same size check, flush and rename as the rest.
pub(crate) fn download_all<T: Transport>(
    mailbox: &mut Mailbox<T>,
    maildir: &Maildir,
    retrieved: &RetrievedCache,
    targets: &[Target],
    progress: &mut dyn FnMut(Progress),
) -> DownloadOutcome {
    let total_bytes = targets.iter().map(|t| t.size_bytes).sum();
    // Once a flush failed, nothing written after it can be trusted either
    // (a later syncfs may not report the same error again).
    let sync_failed = AtomicBool::new(false);
    let failed = &sync_failed;
    std::thread::scope(|scope| {
        // The syncer makes complete messages durable in batches while the
        // network goes on: whatever finished while it flushed the last batch
        // is the next batch. Only then is a message renamed into new/.
        let (job_tx, job_rx) = mpsc::channel::<usize>();
        let (done_tx, done_rx) = mpsc::channel::<(usize, Result<(), StoreError>)>();
        let syncer = scope.spawn(move || {
            while let Ok(first) = job_rx.recv() {
                let mut batch = vec![first];
                batch.extend(job_rx.try_iter().take(SYNC_BATCH - 1));
                let names: Vec<&str> = batch.iter().map(|&i| targets[i].name.as_str()).collect();
                let synced = if failed.load(Ordering::SeqCst) {
                    Err(StoreError::io(
                        "save",
                        &maildir.root().join("tmp"),
                        std::io::Error::other("an earlier flush to disk failed"),
                    ))
                } else {
                    maildir.sync_tmp(&names)
                };
                if synced.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                for &index in &batch {
                    let result = match &synced {
                        Ok(()) => maildir.commit(&targets[index].name).map(|_| ()),
                        Err(e) => Err(StoreError::io(
                            "save",
                            &maildir.root().join("tmp").join(&targets[index].name),
                            std::io::Error::other(e.to_string()),
                        )),
                    };
                    if done_tx.send((index, result)).is_err() {
                        return;
                    }
                }
            }
        });

        let mut sink = Sink {
            sync_failed: failed,
            maildir,
            targets,
            current: None,
            jobs: Some(job_tx),
            fates: vec![Fate::NotReached; targets.len()],
            progress,
            done_messages: 0,
            done_bytes: 0,
            total_bytes,
        };
        // Copies kept from a preview first; the rest from the server.
        let mut remote: Vec<usize> = Vec::with_capacity(targets.len());
        let mut result: Result<(), StreamError<SinkStop>> = Ok(());
        for (index, target) in targets.iter().enumerate() {
            let copy = target
                .may_use_copy
                .then(|| retrieved.get(&target.key))
                .flatten()
                .filter(|bytes| bytes.len() as u64 == target.size_bytes);
            match copy {
                Some(bytes) if result.is_ok() => {
                    result = sink.data(index, &bytes).map_err(StreamError::Sink);
                    // Kept from its preview: as if the server had sent it.
                    if result.is_ok() {
                        result = sink.end(index, Outcome::Ok(())).map_err(StreamError::Sink);
                    }
                }
                _ => remote.push(index),
            }
        }
        if result.is_ok() && !remote.is_empty() {
            let numbers: Vec<MsgNum> = remote.iter().map(|&i| targets[i].number).collect();
            let mut remapped = Remap {
                inner: &mut sink,
                indices: &remote,
            };
            result = mailbox.retr_stream(&numbers, &mut remapped);
        }
        sink.abandon_current();
        sink.jobs = None; // lets the syncer finish
        let Sink { mut fates, .. } = sink;
        let _ = syncer.join();

        let (mut fatal, net_error, syncer_stopped) = match result {
            Ok(()) => (None, None, false),
            Err(StreamError::Sink(SinkStop::Store(e))) => (Some(Error::Store(e)), None, false),
            // The syncer's own error is collected below.
            Err(StreamError::Sink(SinkStop::Syncer)) => (None, None, true),
            Err(StreamError::Net(e)) => (None, Some(e), false),
        };
        let mut confirmed = vec![false; targets.len()];
        for (index, synced) in done_rx.try_iter() {
            match synced {
                Ok(()) => confirmed[index] = true,
                Err(e) => {
                    maildir.remove_tmp(&targets[index].name);
                    fates[index] = Fate::Failed(e.to_string());
                    fatal.get_or_insert(Error::Store(e));
                }
            }
        }
        // Saved means synced and renamed, as the syncer confirmed; a file it
        // never got to is not saved.
        for (index, fate) in fates.iter_mut().enumerate() {
            if matches!(fate, Fate::Saved { .. }) && !confirmed[index] {
                maildir.remove_tmp(&targets[index].name);
                *fate = Fate::Failed("it could not be saved to disk".into());
            }
        }
        if let Some(e) = net_error
            && fatal.is_none()
        {
            fatal = Some(Error::Net(e));
        }
        if syncer_stopped && fatal.is_none() {
            // The batch stopped mid-stream: the session cannot go on.
            fatal = Some(Error::Store(StoreError::io(
                "save",
                &maildir.root().join("tmp"),
                std::io::Error::other("the flush to disk stopped"),
            )));
        }
        DownloadOutcome { fates, fatal }
    })
}

/// A batch of RETR over some of the targets: its positions are theirs.
struct Remap<'a, 'b> {
    inner: &'a mut Sink<'b>,
    indices: &'a [usize],
}

impl RetrSink for Remap<'_, '_> {
    type Error = SinkStop;

    fn data(&mut self, index: usize, chunk: &[u8]) -> Result<(), SinkStop> {
        self.inner.data(self.indices[index], chunk)
    }

    fn end(&mut self, index: usize, outcome: Outcome) -> Result<(), SinkStop> {
        self.inner.end(self.indices[index], outcome)
    }
}

/// Why the sink stopped a download.
#[derive(Debug)]
enum SinkStop {
    /// A message could not be written.
    Store(StoreError),
    /// The syncer failed to flush, or is gone; its error is collected
    /// from it afterwards.
    Syncer,
}

struct Sink<'a> {
    /// Set by the syncer when a flush failed: stop downloading.
    sync_failed: &'a AtomicBool,
    maildir: &'a Maildir,
    targets: &'a [Target],
    /// The message being written: its index, file and bytes so far.
    current: Option<(usize, BufWriter<File>, u64)>,
    jobs: Option<mpsc::Sender<usize>>,
    fates: Vec<Fate>,
    progress: &'a mut dyn FnMut(Progress),
    done_messages: u32,
    done_bytes: u64,
    total_bytes: u64,
}

impl Sink<'_> {
    fn open(&mut self, index: usize) -> Result<(), SinkStop> {
        if self.current.as_ref().is_some_and(|(i, _, _)| *i == index) {
            return Ok(());
        }
        self.abandon_current();
        match self.maildir.create_tmp(&self.targets[index].name) {
            Ok(file) => {
                self.current = Some((index, BufWriter::with_capacity(64 * 1024, file), 0));
                Ok(())
            }
            Err(e) => self.stop(e),
        }
    }

    fn stop(&mut self, error: StoreError) -> Result<(), SinkStop> {
        Err(SinkStop::Store(error))
    }

    /// Removes a partly written message (the batch stopped in its middle).
    fn abandon_current(&mut self) {
        if let Some((index, _, _)) = self.current.take() {
            self.maildir.remove_tmp(&self.targets[index].name);
        }
    }
}

impl RetrSink for Sink<'_> {
    type Error = SinkStop;

    fn data(&mut self, index: usize, chunk: &[u8]) -> Result<(), SinkStop> {
        if self.sync_failed.load(Ordering::SeqCst) {
            return Err(SinkStop::Syncer);
        }
        self.open(index)?;
        let Some((_, writer, written)) = self.current.as_mut() else {
            return Err(SinkStop::Syncer);
        };
        *written += chunk.len() as u64;
        if let Err(e) = writer.write_all(chunk) {
            let path = self
                .maildir
                .root()
                .join("tmp")
                .join(&self.targets[index].name);
            return self.stop(StoreError::io("save", &path, e));
        }
        Ok(())
    }

    fn end(&mut self, index: usize, outcome: Outcome) -> Result<(), SinkStop> {
        let target = &self.targets[index];
        match outcome {
            Outcome::Ok { .. } => {
                self.open(index)?; // an empty message has had no data yet
                let Some((_, writer, written)) = self.current.take() else {
                    return Err(SinkStop::Syncer);
                };
                let path = self.maildir.root().join("tmp").join(&target.name);
                // Written and closed; the syncer makes it durable.
                if let Err(e) = writer.into_inner() {
                    self.maildir.remove_tmp(&target.name);
                    return self.stop(StoreError::io("save", &path, e.into_error()));
                }
                let size_mismatch = written != target.size_bytes;
                if size_mismatch {
                    tracing::warn!(
                        key = %target.key,
                        announced = target.size_bytes,
                        received = written,
                        "message size differs from the server's LIST size; it is kept on the server"
                    );
                }
                self.fates[index] = Fate::Saved {
                    bytes: written,
                    size_mismatch,
                };
                let Some(jobs) = &self.jobs else {
                    return Err(SinkStop::Syncer);
                };
                if jobs.send(index).is_err() {
                    // The syncer is gone; its error is collected afterwards.
                    return Err(SinkStop::Syncer);
                }
                self.done_messages += 1;
                self.done_bytes += written;
            }
            Outcome::Refused(status) => {
                self.abandon_current();
                self.fates[index] = Fate::Failed(format!("the server refused it: {}", status.text));
            }
            Outcome::Failed(error) => {
                self.abandon_current();
                self.fates[index] = Fate::Failed(error.to_string());
            }
        }
        (self.progress)(Progress::Downloading {
            done_messages: self.done_messages,
            total_messages: self.targets.len() as u32,
            done_bytes: self.done_bytes,
            total_bytes: self.total_bytes,
        });
        Ok(())
    }
}
