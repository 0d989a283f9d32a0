//! Black-box tests: the real `quicksilver` binary over real HTTP on loopback. One test binary
//! (this one) holds every module so the suite links once.

mod authorization;
mod bolt;
mod cluster;
mod cluster_harness;
mod common;
mod config;
mod cors;
mod history;
mod presence;
mod publish;
mod server;
mod smoke;
mod subscribe;
