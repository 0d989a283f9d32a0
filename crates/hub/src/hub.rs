//! The hub: joins the transport's ordered log to the local subscribers.
//!
//! Publishing appends to the log; the log delivers every entry back to [`Hub::deliver`], which
//! fans it out through the [`SubscriberIndex`]. Subscribing registers first, notes the last
//! position delivered, asks the log for history up to that position, and only then reads live
//! updates queued meanwhile: history and live delivery meet with no gap and no duplicate.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::{Mutex, RwLock};

use crate::index::{IndexKey, SubscriberIndex};
use crate::presence::{SubscriberInfo, subscription_docs, to_pretty_json};
use crate::presence_store::{DEFAULT_PRESENCE_TIMEOUT, PresenceStore, SubscriberRecord};
use crate::subscriber::{CloseReason, DEFAULT_QUEUE_CAPACITY, SubscribeRequest, Subscriber};
use crate::topic::SelectorCompiler;
use crate::transport::{LogSink, Position, Transport, TransportError};
use crate::update::{EARLIEST, Update, UpdateData, generate_id};

/// Hub-wide settings.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Dispatch subscription events on connect and disconnect (`subscriptions`).
    pub subscriptions: bool,
    /// Per-subscriber queue bound.
    pub queue_capacity: usize,
    /// Compiled-selector cache size (`topic_selector_cache`).
    pub selector_cache: usize,
    /// How long a silent node's subscriptions stay listed (clustered transports only).
    pub presence_timeout: std::time::Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            subscriptions: false,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            selector_cache: 100_000,
            presence_timeout: DEFAULT_PRESENCE_TIMEOUT,
        }
    }
}

/// The protocol core of one node.
pub struct Hub {
    transport: Arc<dyn Transport>,
    compiler: SelectorCompiler,
    index: RwLock<SubscriberIndex>,
    last: Mutex<Last>,
    options: HubOptions,
    published: AtomicU64,
    weak: Weak<Hub>,
    /// This process's identity in the cluster.
    node: String,
    presence: Option<Arc<dyn PresenceStore>>,
}

struct Last {
    position: Position,
    id: Option<Arc<str>>,
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why a subscribe failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Transport(#[from] TransportError),
}

struct Sink(Weak<Hub>);

impl LogSink for Sink {
    fn deliver(&self, update: Arc<Update>, position: Position) {
        if let Some(hub) = self.0.upgrade() {
            hub.deliver(update, position);
        }
    }
}

impl Hub {
    /// Builds a hub over `transport` and starts tailing the log.
    pub async fn start(
        transport: Arc<dyn Transport>,
        options: HubOptions,
    ) -> Result<Arc<Hub>, TransportError> {
        // Presence only matters when subscriptions are exposed.
        let presence = options
            .subscriptions
            .then(|| transport.presence())
            .flatten();
        let hub = Arc::new_cyclic(|weak| Hub {
            transport: transport.clone(),
            compiler: SelectorCompiler::new(options.selector_cache),
            index: RwLock::new(SubscriberIndex::new()),
            last: Mutex::new(Last {
                position: Position::START,
                id: None,
            }),
            options,
            published: AtomicU64::new(0),
            weak: weak.clone(),
            node: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            presence,
        });
        let tail = transport
            .start(Arc::new(Sink(Arc::downgrade(&hub))))
            .await?;
        {
            let mut last = hub.last.lock();
            last.position = tail.position;
            last.id = tail.last_id.map(Arc::from);
        }
        if hub.presence.is_some() {
            hub.presence_tick().await;
            let weak = Arc::downgrade(&hub);
            let period = hub.options.presence_timeout / 3;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(hub) = weak.upgrade() else { break };
                    hub.presence_tick().await;
                }
            });
        }
        Ok(hub)
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The shared selector compiler (and its template cache).
    pub fn compiler(&self) -> &SelectorCompiler {
        &self.compiler
    }

    pub fn options(&self) -> &HubOptions {
        &self.options
    }

    /// This node's id in the cluster.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// One round of cluster presence: say this node is alive, and take over the subscriptions
    /// of nodes that went silent, dispatching their disconnection events (each dead node's
    /// records are handed to exactly one node by the store).
    async fn presence_tick(&self) {
        let Some(store) = &self.presence else { return };
        if let Err(e) = store
            .heartbeat(&self.node, self.options.presence_timeout)
            .await
        {
            tracing::warn!(error = %e, "presence heartbeat failed");
        }
        match store.reap().await {
            Ok(records) => {
                for r in records {
                    tracing::info!(subscriber = %r.id, node = %r.node, "removing the subscription of a node that stopped answering");
                    self.dispatch_presence(&r, false).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "presence reaping failed"),
        }
    }

    fn record(&self, s: &Subscriber) -> SubscriberRecord {
        SubscriberRecord {
            id: s.id().to_string(),
            topics: s.topics().to_vec(),
            payload: s.payload().cloned(),
            node: self.node.clone(),
        }
    }

    /// Appends an update to the log (assigning an id when the publisher gave none) and returns
    /// it once the log accepted it.
    pub async fn publish(&self, mut data: UpdateData) -> Result<Arc<Update>, PublishError> {
        if data.id.is_empty() {
            data.id = generate_id();
        }
        let update = Arc::new(Update::new(data));
        self.transport.append(update.clone()).await?;
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(update)
    }

    /// Updates published through this node (presence events excluded).
    pub fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Fans an entry of the log out to the local subscribers. Called by the transport, in log
    /// order, once per entry.
    pub fn deliver(&self, update: Arc<Update>, position: Position) {
        let index = self.index.read();
        index.for_each_match(&update, |s| {
            s.push(update.clone());
        });
        // Updated under the index lock: a subscriber registering concurrently either is in the
        // index (and got this update live) or sees this position (and gets it from history).
        let mut last = self.last.lock();
        last.position = position;
        last.id = Some(Arc::from(update.id()));
    }

    /// The id of the last update delivered, or `earliest`.
    pub fn last_event_id(&self) -> String {
        self.last
            .lock()
            .id
            .as_deref()
            .unwrap_or(EARLIEST)
            .to_string()
    }

    /// Registers a subscriber and prepares its history. The returned [`Subscription`] yields the
    /// replayed updates, then the live ones; dropping it unsubscribes.
    pub async fn subscribe(&self, req: SubscribeRequest) -> Result<Subscription, SubscribeError> {
        let sub = Arc::new(Subscriber::new(
            &req,
            &self.compiler,
            self.options.queue_capacity,
        ));
        // Draft-07 order (the reference 0.x hub): the connection event goes out before the
        // subscriber is registered.
        self.dispatch_presence(&sub, true).await;
        let (key, snapshot) = {
            let mut index = self.index.write();
            let key = index.insert(sub.clone());
            let snapshot = self.last.lock().position;
            (key, snapshot)
        };
        if let Some(store) = &self.presence
            && let Err(e) = store.add(&self.record(&sub)).await
        {
            tracing::warn!(error = %e, "cannot record the subscription in the cluster presence store");
        }
        let mut guard = Subscription {
            hub: self.weak.clone(),
            subscriber: sub,
            key: Some(key),
            history: None,
            cursor: None,
        };
        if let Some(requested) = req.last_event_id.as_deref().filter(|s| !s.is_empty()) {
            let history = self
                .transport
                .history(requested, snapshot)
                .await
                .map_err(SubscribeError::Transport)?;
            guard.cursor = Some(if history.found {
                requested.to_string()
            } else {
                tracing::info!(
                    last_event_id = requested,
                    "can't find requested Last-Event-ID"
                );
                EARLIEST.to_string()
            });
            guard.history = Some(history.updates);
        }
        Ok(guard)
    }

    async fn dispatch_presence(&self, sub: &impl SubscriberInfo, active: bool) {
        if !self.options.subscriptions {
            return;
        }
        for doc in subscription_docs(sub, None, true, active) {
            let update = Arc::new(Update::new(UpdateData {
                id: generate_id(),
                topics: vec![doc.id.clone()],
                data: to_pretty_json(&doc),
                private: true,
                event_type: None,
                retry: None,
            }));
            if let Err(e) = self.transport.append(update).await {
                tracing::error!(error = %e, subscription = %doc.id, "failed to dispatch subscription event");
            }
        }
    }

    fn remove(&self, key: IndexKey) -> Option<Arc<Subscriber>> {
        self.index.write().remove(key)
    }

    /// The local subscribers and the last event id, read together.
    pub fn subscribers(&self) -> (String, Vec<Arc<Subscriber>>) {
        let index = self.index.read();
        let last = self.last_event_id();
        (last, index.iter().cloned().collect())
    }

    /// Every active subscriber of the cluster (of this node when the transport has no presence
    /// store) and the last event id, for the subscriptions API.
    pub async fn cluster_subscribers(
        &self,
    ) -> Result<(String, Vec<SubscriberRecord>), TransportError> {
        let last = self.last_event_id();
        let records = match &self.presence {
            Some(store) => store.list().await?,
            None => self.index.read().iter().map(|s| self.record(s)).collect(),
        };
        Ok((last, records))
    }

    /// The number of connected subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.index.read().len()
    }

    /// Ends every stream (they drain what is queued, then close cleanly so clients reconnect)
    /// and closes the transport.
    pub async fn shutdown(&self) {
        for s in self.index.read().iter() {
            s.close(CloseReason::Shutdown);
        }
        if let Some(store) = &self.presence
            && let Err(e) = store.leave(&self.node).await
        {
            tracing::warn!(error = %e, "cannot remove this node from the cluster presence store");
        }
        if let Err(e) = self.transport.close().await {
            tracing::warn!(error = %e, "error while closing the transport");
        }
    }

    /// Ends every stream without closing the transport.
    pub fn close_streams(&self) {
        for s in self.index.read().iter() {
            s.close(CloseReason::Shutdown);
        }
    }
}

/// A registered subscriber: yields its history, then its live updates. Dropping it removes the
/// subscriber and dispatches its disconnection event.
pub struct Subscription {
    hub: Weak<Hub>,
    subscriber: Arc<Subscriber>,
    key: Option<IndexKey>,
    history: Option<BoxStream<'static, Result<Arc<Update>, TransportError>>>,
    cursor: Option<String>,
}

impl Subscription {
    pub fn subscriber(&self) -> &Arc<Subscriber> {
        &self.subscriber
    }

    /// The `Last-Event-ID` to answer with, when the request carried one: the requested id when
    /// it was found, else `earliest`.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The next update for this subscriber: replayed ones first (each checked against the
    /// subscriber's selectors and grants), then live ones. `Ready(None)` when the stream is over.
    pub fn poll_next_update(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Update>>> {
        while let Some(history) = self.history.as_mut() {
            match history.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(u))) => {
                    if self.subscriber.matches(&u) {
                        return Poll::Ready(Some(u));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::error!(error = %e, subscriber = %self.subscriber.id(), "history replay failed");
                    self.history = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(None) => self.history = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.subscriber.poll_next(cx)
    }

    /// Async form of [`Subscription::poll_next_update`].
    pub async fn next_update(&mut self) -> Option<Arc<Update>> {
        futures::future::poll_fn(|cx| self.poll_next_update(cx)).await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let Some(sub) = hub.remove(key) else { return };
        if (hub.options.subscriptions || hub.presence.is_some())
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if let Some(store) = &hub.presence
                    && let Err(e) = store.remove(&hub.node, sub.id()).await
                {
                    tracing::warn!(error = %e, "cannot remove the subscription from the cluster presence store");
                }
                hub.dispatch_presence(&*sub, false).await;
            });
        }
    }
}

impl futures::Stream for Subscription {
    type Item = Arc<Update>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_update(cx)
    }
}
