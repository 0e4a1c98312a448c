//! Test support shared by Ômega's crates (a dev-dependency only; never shipped):
//! [`pg::PgDatabase`], a fresh PostgreSQL database per test on the cluster `scripts/test` starts,
//! and [`netns::Namespaces`], three network namespaces where two hosts reach a third but not each
//! other. It panics on setup failure: it is test code.

pub mod netns;
pub mod pg;
