//! Storage conformance: the atomic steps the hub relies on hold under concurrency, on SQLite and
//! PostgreSQL alike — including two hub instances appending to one audit log.

mod common;

use std::sync::Arc;

use common::{Backend, TestHub};
use omega_hub::audit::{Actor, AuditEvent, AuditLog};
use omega_hub::keys::KeyRing;
use omega_hub::seal::MasterKey;
use omega_hub::store::RefreshRow;
use omega_hub::tenancy::Plan;

fn quota_counters_never_pass_their_limit_under_concurrency(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    let (tenant_id, _) = hub.tenant("acme", Plan::Free);
    let db = hub.hub.db().clone();
    let accepted = hub.runtime.block_on(async move {
        let tenant_id = db.tenant_id_of(&tenant_id).await.unwrap().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let db = db.clone();
            let tenant_id = tenant_id.clone();
            tasks.push(tokio::spawn(async move {
                db.tenant(&tenant_id)
                    .add_usage("messages", "2026-11", 3, Some(100))
                    .await
                    .unwrap()
            }));
        }
        let mut accepted = 0;
        for task in tasks {
            if task.await.unwrap().is_some() {
                accepted += 1;
            }
        }
        assert_eq!(
            db.tenant(&tenant_id)
                .usage("messages", "2026-11")
                .await
                .unwrap(),
            99
        );
        accepted
    });
    assert_eq!(accepted, 33, "33 × 3 = 99 ≤ 100 < 102");
}

fn a_refresh_token_is_spent_exactly_once_under_concurrency(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    let db = hub.hub.db().clone();
    let wins = hub.runtime.block_on(async move {
        let row = RefreshRow {
            token_hash: vec![9; 32],
            tenant_id: "t".into(),
            member_id: "m".into(),
            device_id: "d".into(),
            family_id: "f".into(),
            created_ms: 1,
            expires_ms: i64::MAX,
            used_ms: None,
            revoked_ms: None,
        };
        db.insert_refresh(&row).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..20 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.use_refresh(&[9; 32], n).await.unwrap()
            }));
        }
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        wins
    });
    assert_eq!(wins, 1);
}

fn two_hub_instances_append_to_one_audit_log_without_losing_or_forking(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    let db = hub.hub.db().clone();
    let dir = hub.dir.path().to_owned();
    let first = hub.hub.audit().clone();
    let (size, root_first, root_second) = hub.runtime.block_on(async move {
        // A second instance: same database, same master key, its own writer and leaf cache.
        let master = Arc::new(MasterKey::load_or_create(&dir.join("hub-master.key")).unwrap());
        let day = 24 * 3600 * 1000;
        let keys = Arc::new(
            KeyRing::load(db.clone(), master, 365 * day, day)
                .await
                .unwrap(),
        );
        let second = AuditLog::start(db.clone(), keys).await.unwrap();
        let before = first.size();
        let mut tasks = Vec::new();
        for n in 0..60 {
            let log = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                let event = AuditEvent::new(
                    None,
                    Actor::System {
                        name: "test".into(),
                    },
                    "test.append",
                )
                .target(format!("n/{n}"));
                log.append(event).await.unwrap()
            }));
        }
        let mut indexes = Vec::new();
        for task in tasks {
            indexes.push(task.await.unwrap());
        }
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), 60, "every append got its own index");
        let head_first = first.head().await.unwrap();
        let head_second = second.head().await.unwrap();
        assert_eq!(head_first.size, before + 60);
        (head_first.size, head_first.root, head_second.root)
    });
    assert!(size >= 60);
    assert_eq!(root_first, root_second, "both instances see the same tree");
}

on_both!(
    quota_counters_never_pass_their_limit_under_concurrency,
    a_refresh_token_is_spent_exactly_once_under_concurrency,
    two_hub_instances_append_to_one_audit_log_without_losing_or_forking,
);
