//! `quicksilver-bench`: the load generator behind `qs-bench` and the benchmark scenarios.
//!
//! The tool drives a hub on this machine the way real clients do: N subscribers holding SSE
//! streams over HTTP/1.1 and P publishers posting updates, every payload carrying a sequence
//! number and the time it was sent. From what arrives it counts missing and duplicate deliveries
//! and publish-to-receive latency; from `/proc` it reads the server's CPU time and memory. It
//! speaks to two kinds of servers, a Mercure hub (Quicksilver or the reference hub) and nchan, so
//! a peer can be measured in the same run with the same client.
//!
//! Why a hand-rolled HTTP/1.1 client: at 10,000+ connections the client shares the machine with
//! the server it measures, so every byte and cycle it spends is taken from the server. A socket,
//! one read buffer and a small parser per subscriber is as cheap as a subscriber gets.

pub mod group;
pub mod http1;
pub mod payload;
pub mod procfs;
pub mod publish;
pub mod report;
pub mod scenario;
pub mod shard;
pub mod sse;
pub mod stats;
pub mod target;
