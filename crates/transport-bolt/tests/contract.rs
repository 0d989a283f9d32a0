//! The transport contract suite, each check on a fresh file.

mod common;

quicksilver_hub::transport_contract_tests!(common::fresh_factory());
