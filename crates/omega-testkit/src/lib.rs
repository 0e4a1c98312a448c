//! Test support shared by Ômega's crates (a dev-dependency only; never shipped):
//! [`pg::PgDatabase`], a fresh PostgreSQL database per test on the cluster `scripts/test` starts,
//! [`netns::Namespaces`], three network namespaces where two hosts reach a third but not each
//! other, and [`fakes::FakeSource`], local fakes of the messaging sources' HTTP APIs. It panics on
//! setup failure: it is test code.

pub mod fakes;
pub mod netns;
pub mod pg;
