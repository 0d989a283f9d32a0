//! The shortest end-to-end path: publish, receive, with the exact bytes.

use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn publish_and_receive() {
    let hub = Hub::with_directives("anonymous");
    let mut sub = Sse::subscribe(&hub, &["https://example.com/books/{id}"], None).await;
    let (status, id) = publish(
        &hub,
        &publisher(),
        &[
            ("topic", "https://example.com/books/1"),
            ("data", "hello\nworld"),
            ("id", "a1"),
        ],
    )
    .await;
    assert_eq!((status, id.as_str()), (200, "a1"));
    assert!(
        sub.read_until("\n\n", Duration::from_secs(5)).await,
        "got {:?}",
        sub.text()
    );
    assert_eq!(sub.text(), "id: a1\ndata: hello\ndata: world\n\n");
}
