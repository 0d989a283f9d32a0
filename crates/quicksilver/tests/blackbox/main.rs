//! Black-box tests: the real `quicksilver` binary over real HTTP on loopback. One test binary
//! (this one) holds every module so the suite links once.

mod authorization;
mod bolt;
mod cluster;
mod cluster_harness;
mod common;
mod config;
mod cors;
mod draft08_auth;
mod draft08_cluster;
mod draft08_common;
mod draft08_events;
mod draft08_history;
mod draft08_misc;
mod draft08_presence;
mod draft08_publish;
mod draft08_subscribe;
mod history;
mod presence;
mod publish;
mod server;
mod smoke;
mod subscribe;
