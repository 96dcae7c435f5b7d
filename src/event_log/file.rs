//! The NDJSON file sink: one event per line, appended and synced per batch, rotated when the
//! file reaches `rotate_bytes` or is older than `rotate_every`, keeping the newest `keep`
//! rotated files (`<name>.<Unix time in ms, 13 digits>`, which sort by age).

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use tokio::{fs, io::AsyncWriteExt};

use super::sink::{EventSink, SinkError};
use crate::{event::Event, message::now_ms};

/// See the module documentation.
pub struct FileSink {
    path: PathBuf,
    rotate_bytes: u64,
    rotate_every: Option<Duration>,
    keep: usize,
    file: Option<(fs::File, u64, Instant)>,
}

impl FileSink {
    pub fn new(
        path: PathBuf,
        rotate_bytes: u64,
        rotate_every: Option<Duration>,
        keep: usize,
    ) -> Self {
        Self {
            path,
            rotate_bytes,
            rotate_every,
            keep,
            file: None,
        }
    }

    async fn open(&mut self) -> Result<&mut (fs::File, u64, Instant), SinkError> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)
                    .await
                    .map_err(SinkError::from_display)?;
            }
            let file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(SinkError::from_display)?;
            let size = file
                .metadata()
                .await
                .map_err(SinkError::from_display)?
                .len();
            self.file = Some((file, size, Instant::now()));
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn due_for_rotation(&self) -> bool {
        self.file.as_ref().is_some_and(|(_, size, opened)| {
            *size >= self.rotate_bytes
                || self
                    .rotate_every
                    .is_some_and(|every| *size > 0 && opened.elapsed() >= every)
        })
    }

    async fn rotate(&mut self) -> Result<(), SinkError> {
        self.file = None;
        let rotated = sibling(&self.path, &format!("{:013}", now_ms()));
        fs::rename(&self.path, &rotated)
            .await
            .map_err(SinkError::from_display)?;
        remove_oldest(&self.path, self.keep).await;
        Ok(())
    }
}

/// `events.ndjson` -> `events.ndjson.<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Keeps the newest `keep` rotated files of `path`.
async fn remove_oldest(path: &Path, keep: usize) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(mut entries) = fs::read_dir(dir).await else {
        return;
    };
    let mut rotated = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(&prefix) {
            rotated.push(entry.path());
        }
    }
    rotated.sort();
    let excess = rotated.len().saturating_sub(keep);
    for old in rotated.into_iter().take(excess) {
        if let Err(err) = fs::remove_file(&old).await {
            tracing::warn!(file = %old.display(), %err, "removing a rotated event file failed");
        }
    }
}

#[async_trait]
impl EventSink for FileSink {
    async fn write(&mut self, events: &[&Event]) -> Result<(), SinkError> {
        if self.due_for_rotation() {
            self.rotate().await?;
        }
        let mut lines = Vec::with_capacity(events.len() * 256);
        for event in events {
            serde_json::to_writer(&mut lines, event).map_err(SinkError::from_display)?;
            lines.push(b'\n');
        }
        let (file, size, _) = self.open().await?;
        let written = async {
            file.write_all(&lines).await?;
            file.sync_data().await
        }
        .await;
        if let Err(err) = written {
            // Reopened next time: a partial line is followed by whole ones on a new line.
            self.file = None;
            return Err(SinkError::from_display(err));
        }
        *size += lines.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn lines_in(path: &Path) -> usize {
        std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
    }

    #[tokio::test]
    async fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        let mut sink = FileSink::new(path.clone(), 1, None, 2);
        for _ in 0..4 {
            let event = Event::new(EventKind::Accepted, "acme");
            sink.write(&[&event]).await.unwrap();
            // Rotated names have millisecond resolution.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(lines_in(&path), 1, "the current file has the last batch");
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        rotated.sort();
        assert_eq!(rotated.len(), 2, "keep = 2: {rotated:?}");
        for file in &rotated {
            assert_eq!(lines_in(file), 1);
            let text = std::fs::read_to_string(file).unwrap();
            let event: Event = serde_json::from_str(text.trim()).unwrap();
            assert_eq!(event.kind, EventKind::Accepted);
        }
    }

    #[tokio::test]
    async fn appends_whole_lines_until_due() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("events.ndjson");
        let mut sink = FileSink::new(path.clone(), 1 << 20, Some(Duration::from_secs(3600)), 2);
        let a = Event::new(EventKind::Accepted, "acme");
        let b = Event::new(EventKind::Final, "acme");
        sink.write(&[&a, &b]).await.unwrap();
        sink.write(&[&a]).await.unwrap();
        assert_eq!(lines_in(&path), 3);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
