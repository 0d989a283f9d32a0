//! `fanout`: the fan-out hot path in one process, no network, for instruction counting.
//!
//! Builds a `quicksilver_hub::Hub` over the in-memory `LocalTransport` (no history, so the log
//! costs nothing but the append), registers N subscribers, then M times: publishes one update and
//! drains every subscriber's queue, touching each frame as the SSE writer would. Run under
//! `valgrind --tool=callgrind` with two values of M, the difference in instructions divided by
//! (ΔM × N) is the cost of one delivery, independent of start-up; with N = 0 it is the cost of one
//! publish. A single-threaded runtime and fixed inputs keep the count repeatable.
//!
//! ```text
//! fanout --subscribers N --messages M [--selectors one-topic|templates]
//! ```
//! With `templates`, subscriber i subscribes to `https://example.com/u/<i>/{x}` and each update
//! goes to one subscriber (`https://example.com/u/<seq % N>/m`): the matching cost of S6.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use anyhow::{Context as _, bail};
use quicksilver_hub::{Hub, HubOptions, LocalTransport, SubscribeRequest, UpdateData};

const TOPIC: &str = "https://example.com/bench";

struct Args {
    subscribers: usize,
    messages: u64,
    templates: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        subscribers: 1000,
        messages: 100,
        templates: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--subscribers" | "-n" => a.subscribers = value()?.parse().context("--subscribers")?,
            "--messages" | "-m" => a.messages = value()?.parse().context("--messages")?,
            "--selectors" => match value()?.as_str() {
                "one-topic" => a.templates = false,
                "templates" => a.templates = true,
                other => bail!("--selectors: expected one-topic or templates, got {other}"),
            },
            other => bail!(
                "unknown argument {other}; usage: fanout --subscribers N --messages M [--selectors one-topic|templates]"
            ),
        }
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("runtime")?;
    let (updates, bytes) = rt.block_on(run(&args))?;
    println!(
        "subscribers={} messages={} selectors={} delivered={updates} bytes={bytes}",
        args.subscribers,
        args.messages,
        if args.templates {
            "templates"
        } else {
            "one-topic"
        }
    );
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<(u64, u64)> {
    let hub = Hub::start(Arc::new(LocalTransport::new(0)), HubOptions::default())
        .await
        .context("starting the hub")?;
    let mut subs = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let topic = if args.templates {
            format!("https://example.com/u/{i}/{{x}}")
        } else {
            TOPIC.to_string()
        };
        subs.push(
            hub.subscribe(SubscribeRequest {
                topics: vec![topic],
                ..SubscribeRequest::default()
            })
            .await
            .context("subscribing")?,
        );
    }
    // The waker is never woken for real: queues are drained right after each publish.
    let mut cx = Context::from_waker(Waker::noop());
    let (mut delivered, mut bytes) = (0u64, 0u64);
    for seq in 0..args.messages {
        let topic = if args.templates {
            format!(
                "https://example.com/u/{}/m",
                seq % args.subscribers.max(1) as u64
            )
        } else {
            TOPIC.to_string()
        };
        // A fixed id: generating one reads the clock and randomness, which would make the
        // instruction count vary between runs.
        hub.publish(UpdateData {
            id: format!("urn:bench:{seq}"),
            topics: vec![topic],
            data: format!("{seq} 1700000000000000000"),
            private: false,
            event_type: None,
            retry: None,
        })
        .await
        .context("publishing")?;
        // With templates only the recipient was woken, so only it is polled, as a server's
        // runtime would; with one topic every subscriber was.
        let polled = if args.templates {
            let i = (seq % args.subscribers.max(1) as u64) as usize;
            &mut subs[i..(i + 1).min(args.subscribers)]
        } else {
            &mut subs[..]
        };
        for s in polled {
            while let Poll::Ready(Some(u)) = s.poll_next_update(&mut cx) {
                delivered += 1;
                bytes += u.frame().len() as u64;
            }
        }
    }
    Ok((delivered, bytes))
}
