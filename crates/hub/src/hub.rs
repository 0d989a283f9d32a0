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
use crate::presence::{
    MatchFilter, SubscriberInfo, match_subscription_docs, subscription_docs, to_pretty_json,
};
use crate::presence_store::{DEFAULT_PRESENCE_TIMEOUT, PresenceStore, SubscriberRecord};
use crate::subscriber::{CloseReason, DEFAULT_QUEUE_CAPACITY, SubscribeRequest, Subscriber};
use crate::topic::{SelectorCompiler, url_pattern_base};
use crate::transport::{LogSink, Position, Transport, TransportError};
use crate::update::{EARLIEST, Update, UpdateData, generate_id};

/// The protocol version a hub speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// draft-dunglas-mercure-07, as the reference hub 0.x speaks it.
    #[default]
    Draft07,
    /// draft-dunglas-mercure-08 (Mercure 1.0).
    Draft08,
}

/// The SSE event type of draft-08 subscription events.
pub const SUBSCRIPTION_EVENT_TYPE: &str = "mercure";

/// Hub-wide settings.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The protocol: the shape and timing of subscription events.
    pub protocol: Protocol,
    /// The hub's resource identifier (`resource_identifier`): when it is an absolute URL ending
    /// with `/.well-known/mercure`, relative URL patterns and topics are resolved against it,
    /// else against `http://mercure.invalid` (see [`url_pattern_base`]).
    pub resource_identifier: Option<String>,
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
            protocol: Protocol::Draft07,
            resource_identifier: None,
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
            compiler: SelectorCompiler::with_base(
                options.selector_cache,
                url_pattern_base(options.resource_identifier.as_deref()),
            ),
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
        // The per-subscription fields are only written when some subscription is draft-08, so
        // draft-07 records keep their original shape.
        let draft08 = s.matchers().iter().any(|m| m.match_type.is_some());
        let (match_types, payloads) = if draft08 {
            s.matchers()
                .iter()
                .map(|m| (m.match_type, m.match_type.and(m.payload.clone())))
                .unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        SubscriberRecord {
            id: s.id().to_string(),
            topics: s.topics().to_vec(),
            payload: s.payload().cloned(),
            node: self.node.clone(),
            match_types,
            payloads,
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
        let draft08 = self.options.protocol == Protocol::Draft08;
        // Draft-07 order (the reference 0.x hub): the connection event goes out before the
        // subscriber is registered. Draft-08 (the reference 1.0 hub): after.
        if !draft08 {
            self.dispatch_presence(&sub, true).await;
        }
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
        if draft08 {
            self.dispatch_presence(&sub, true).await;
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
        // One private update per subscription, topic = document id.
        let events: Vec<(String, String, Option<String>)> = match self.options.protocol {
            Protocol::Draft07 => subscription_docs(sub, None, true, active)
                .into_iter()
                .map(|doc| {
                    let data = to_pretty_json(&doc);
                    (doc.id, data, None)
                })
                .collect(),
            Protocol::Draft08 => match_subscription_docs(sub, &MatchFilter::default(), active)
                .into_iter()
                .map(|doc| {
                    let data = to_pretty_json(&doc);
                    (doc.id, data, Some(SUBSCRIPTION_EVENT_TYPE.to_string()))
                })
                .collect(),
        };
        for (topic, data, event_type) in events {
            let update = Arc::new(Update::new(UpdateData {
                id: generate_id(),
                topics: vec![topic.clone()],
                data,
                private: true,
                event_type,
                retry: None,
            }));
            if let Err(e) = self.transport.append(update).await {
                tracing::error!(error = %e, subscription = %topic, "failed to dispatch subscription event");
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::local::LocalTransport;
    use crate::subscriber::Matcher;
    use crate::topic::{MatchType, Selector};
    use serde_json::json;

    const WATCH: &str = "/.well-known/mercure/subscriptions/:match_type/:match/:subscriber";

    async fn hub(protocol: Protocol, resource_identifier: Option<&str>) -> Arc<Hub> {
        let options = HubOptions {
            protocol,
            subscriptions: true,
            resource_identifier: resource_identifier.map(str::to_string),
            ..HubOptions::default()
        };
        Hub::start(Arc::new(LocalTransport::new(100)), options)
            .await
            .unwrap()
    }

    fn compile(hub: &Hub, t: MatchType, p: &str) -> Selector {
        hub.compiler().compile_matcher(t, p).unwrap()
    }

    /// A draft-08 request: `(type, pattern, payload)` matchers and compiled grants.
    fn req08(
        hub: &Hub,
        matchers: &[(MatchType, &str, Option<serde_json::Value>)],
        grants: Option<&[(MatchType, &str)]>,
    ) -> SubscribeRequest {
        SubscribeRequest {
            matchers: matchers
                .iter()
                .map(|(t, p, payload)| Matcher::new(*t, compile(hub, *t, p), payload.clone()))
                .collect(),
            private_grants: grants.map(|g| g.iter().map(|(t, p)| compile(hub, *t, p)).collect()),
            ..Default::default()
        }
    }

    async fn next(s: &mut Subscription) -> Arc<Update> {
        match tokio::time::timeout(Duration::from_secs(5), s.next_update()).await {
            Ok(Some(u)) => u,
            other => panic!(
                "no update: {:?}",
                other.map(|o| o.map(|u| u.data().clone()))
            ),
        }
    }

    async fn nothing(s: &mut Subscription) {
        if let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(200), s.next_update()).await
        {
            panic!("unexpected update {:?}", u.data());
        }
    }

    #[tokio::test]
    async fn draft08_subscription_events() {
        let hub = hub(Protocol::Draft08, None).await;
        let mut watcher = hub
            .subscribe(req08(
                &hub,
                &[(MatchType::UrlPattern, WATCH, None)],
                Some(&[(MatchType::Exact, "*")]),
            ))
            .await
            .unwrap();
        // Dispatched after registration: the watcher sees its own subscription.
        let own = next(&mut watcher).await;
        let own_id = watcher.subscriber().id().to_string();
        assert_eq!(own.data().event_type.as_deref(), Some("mercure"));
        assert!(own.is_private());
        assert_eq!(
            own.topics(),
            [format!(
                "/.well-known/mercure/subscriptions/urlpattern/{}/{}",
                crate::subscriber::path_escape(WATCH),
                crate::subscriber::path_escape(&own_id)
            )]
        );

        let other = hub
            .subscribe(req08(
                &hub,
                &[
                    (
                        MatchType::Exact,
                        "https://example.com/a b",
                        Some(json!({"foo": "bar"})),
                    ),
                    (MatchType::UrlPattern, "https://example.com/books/:id", None),
                ],
                None,
            ))
            .await
            .unwrap();
        let sid = other.subscriber().id().to_string();
        let esc = crate::subscriber::path_escape(&sid);
        let first = next(&mut watcher).await;
        let id = format!(
            "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Fa%20b/{esc}"
        );
        assert_eq!(first.topics(), std::slice::from_ref(&id));
        assert_ne!(first.id(), id, "the SSE id is generated, not the topic");
        assert_eq!(
            first.data().data,
            format!(
                "{{\n  \"id\": \"{id}\",\n  \"type\": \"subscription\",\n  \"subscriber\": \"{sid}\",\n  \"match\": \"https://example.com/a b\",\n  \"match_type\": \"exact\",\n  \"active\": true,\n  \"payload\": {{\n    \"foo\": \"bar\"\n  }}\n}}"
            )
        );
        assert!(first.frame().starts_with(b"event: mercure\nid: "));
        let second = next(&mut watcher).await;
        assert!(
            second
                .data()
                .data
                .contains("\"match_type\": \"urlpattern\"")
        );
        assert!(!second.data().data.contains("payload"));

        // The cluster view carries the types and payloads.
        let (_, records) = hub.cluster_subscribers().await.unwrap();
        let r = records.iter().find(|r| r.id == sid).unwrap();
        assert_eq!(
            r.match_types,
            vec![Some(MatchType::Exact), Some(MatchType::UrlPattern)]
        );
        assert_eq!(r.subscription_payload(0), Some(&json!({"foo": "bar"})));
        assert_eq!(r.subscription_payload(1), None);

        drop(other);
        for _ in 0..2 {
            let gone = next(&mut watcher).await;
            assert!(
                gone.data().data.contains("\"active\": false"),
                "{}",
                gone.data().data
            );
            assert!(gone.data().data.contains(&sid));
        }
        nothing(&mut watcher).await;
    }

    #[tokio::test]
    async fn draft08_events_need_a_grant() {
        let hub = hub(Protocol::Draft08, None).await;
        let mut no_grant = hub
            .subscribe(req08(&hub, &[(MatchType::UrlPattern, WATCH, None)], None))
            .await
            .unwrap();
        let mut exact_grant = hub
            .subscribe(req08(
                &hub,
                &[(MatchType::UrlPattern, WATCH, None)],
                Some(&[(
                    MatchType::UrlPattern,
                    "/.well-known/mercure/subscriptions/exact/*",
                )]),
            ))
            .await
            .unwrap();
        let _s = hub
            .subscribe(req08(&hub, &[(MatchType::Exact, "x", None)], None))
            .await
            .unwrap();
        let u = next(&mut exact_grant).await;
        assert!(u.topics()[0].starts_with("/.well-known/mercure/subscriptions/exact/x/"));
        // The watchers' own (urlpattern) events were not granted.
        nothing(&mut exact_grant).await;
        nothing(&mut no_grant).await;
    }

    #[tokio::test]
    async fn draft07_events_are_unchanged() {
        let hub = hub(Protocol::Draft07, None).await;
        let watch = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";
        let mut watcher = hub
            .subscribe(SubscribeRequest {
                topics: vec![watch.into()],
                private_topics: Some(vec![watch.into()]),
                payload: Some(json!({"u": 1})),
                ..Default::default()
            })
            .await
            .unwrap();
        // Dispatched before registration: no event about itself.
        let s = hub
            .subscribe(SubscribeRequest {
                topics: vec!["https://e/1".into()],
                payload: Some(json!("p")),
                ..Default::default()
            })
            .await
            .unwrap();
        let u = next(&mut watcher).await;
        assert_eq!(u.data().event_type, None);
        let sid = s.subscriber().id().to_string();
        let esc = crate::subscriber::query_escape(&sid);
        assert_eq!(
            u.topics(),
            [format!(
                "/.well-known/mercure/subscriptions/https%3A%2F%2Fe%2F1/{esc}"
            )]
        );
        assert_eq!(
            u.data().data,
            format!(
                "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": \"/.well-known/mercure/subscriptions/https%3A%2F%2Fe%2F1/{esc}\",\n  \"type\": \"Subscription\",\n  \"subscriber\": \"{sid}\",\n  \"topic\": \"https://e/1\",\n  \"active\": true,\n  \"payload\": \"p\"\n}}"
            )
        );
        nothing(&mut watcher).await;
        let (_, records) = hub.cluster_subscribers().await.unwrap();
        let r = records.iter().find(|r| r.id == sid).unwrap();
        assert!(r.match_types.is_empty() && r.payloads.is_empty());
        assert_eq!(r.payload, Some(json!("p")));
    }

    #[tokio::test]
    async fn url_patterns_route_and_authorize_updates() {
        let hub = hub(
            Protocol::Draft08,
            Some("https://example.com/.well-known/mercure"),
        )
        .await;
        let mut s = hub
            .subscribe(req08(
                &hub,
                &[(MatchType::UrlPattern, "/books/:id", None)],
                Some(&[(MatchType::UrlPattern, "https://example.com/users/42/*")]),
            ))
            .await
            .unwrap();
        let publish = |topics: &[&str], private: bool, data: &str| {
            hub.publish(UpdateData {
                id: String::new(),
                topics: topics.iter().map(|t| t.to_string()).collect(),
                data: data.to_string(),
                private,
                event_type: None,
                retry: None,
            })
        };
        publish(&["https://example.com/books/1"], false, "absolute")
            .await
            .unwrap();
        publish(&["/books/2"], false, "relative").await.unwrap();
        publish(&["https://other.example/books/3"], false, "other host")
            .await
            .unwrap();
        publish(
            &[
                "https://example.com/books/4",
                "https://example.com/users/42/books/4",
            ],
            true,
            "granted",
        )
        .await
        .unwrap();
        publish(
            &[
                "https://example.com/books/5",
                "https://example.com/users/7/books/5",
            ],
            true,
            "not granted",
        )
        .await
        .unwrap();
        for want in ["absolute", "relative", "granted"] {
            assert_eq!(next(&mut s).await.data().data, want);
        }
        nothing(&mut s).await;
        // History is re-checked the same way.
        let mut replay = hub
            .subscribe(SubscribeRequest {
                last_event_id: Some(EARLIEST.into()),
                ..req08(&hub, &[(MatchType::UrlPattern, "/books/:id", None)], None)
            })
            .await
            .unwrap();
        for want in ["absolute", "relative"] {
            assert_eq!(next(&mut replay).await.data().data, want);
        }
        nothing(&mut replay).await;
    }
}
