//! Shared helpers: transports on files in temporary directories.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use quicksilver_hub::{
    History, LogSink, Position, Tail, Transport, TransportError, Update, UpdateData,
};
use quicksilver_transport_bolt::{BoltOptions, BoltTransport};

/// A transport that owns the temporary directory of its file (removed when dropped).
pub struct TempBolt {
    pub inner: Arc<BoltTransport>,
    _dir: tempfile::TempDir,
}

#[async_trait]
impl Transport for TempBolt {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError> {
        self.inner.start(sink).await
    }
    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError> {
        self.inner.append(update).await
    }
    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError> {
        self.inner.history(after_id, until).await
    }
    async fn ready(&self) -> Result<(), TransportError> {
        self.inner.ready().await
    }
    async fn live(&self) -> Result<(), TransportError> {
        self.inner.live().await
    }
    async fn close(&self) -> Result<(), TransportError> {
        self.inner.close().await
    }
}

pub type Factory =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Transport>> + Send>> + Send + Sync>;

/// Opens a fresh file each time.
pub fn fresh_factory() -> Factory {
    Box::new(|| {
        Box::pin(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let inner = Arc::new(
                BoltTransport::open(BoltOptions::with_path(dir.path().join("h.db"))).expect("open"),
            );
            Arc::new(TempBolt { inner, _dir: dir }) as Arc<dyn Transport>
        })
    })
}

/// A temporary directory and a path in it.
pub fn temp_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    (dir, path)
}

pub fn data(id: &str, body: &str) -> UpdateData {
    UpdateData {
        id: id.to_string(),
        topics: vec!["https://example.com/t".to_string()],
        data: body.to_string(),
        private: false,
        event_type: None,
        retry: None,
    }
}

pub fn update(id: &str, body: &str) -> Arc<Update> {
    Arc::new(Update::new(data(id, body)))
}

/// A sink that records what it is given.
#[derive(Default)]
pub struct Recorder(pub parking_lot::Mutex<Vec<(String, u128)>>);

impl LogSink for Recorder {
    fn deliver(&self, update: Arc<Update>, position: Position) {
        self.0.lock().push((update.id().to_string(), position.0));
    }
}
