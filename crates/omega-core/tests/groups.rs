//! Groups end to end: 20 real nodes on 127.0.0.1 in one test. Every member gets every message
//! once; a member offline during 50 messages gets them all on return; a removed member decrypts
//! nothing sent after the removal; only admins change membership; two owners editing the
//! membership at the same time converge to the same state on every member.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use omega_core::kinds::Draft;
use omega_core::{Node, NodeHandle};

use crate::common::{ANY_LOOPBACK_PORT, Identity, TIMEOUT, card_port};

const MEMBERS: usize = 20;

fn text(body: &str) -> Draft {
    Draft::Text {
        body: body.to_owned(),
        mentions: Vec::new(),
    }
}

/// Polls `check` every 50 ms until it holds, failing after [`TIMEOUT`] with `what`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many times each text appears among a member's group messages.
async fn texts(handle: &NodeHandle, group: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in handle
        .group_messages(group, 100_000)
        .await
        .expect("group messages")
    {
        *counts.entry(message.text).or_insert(0) += 1;
    }
    counts
}

async fn members_of(handle: &NodeHandle, group: &str) -> Option<Vec<(String, String)>> {
    let view = handle.group(group).await.ok()?;
    Some(
        view.members
            .iter()
            .map(|member| (member.user_id.clone(), member.role.as_str().to_owned()))
            .collect(),
    )
}

struct Member {
    identity: Identity,
    node: Option<Node>,
    port: u16,
}

impl Member {
    fn handle(&self) -> NodeHandle {
        self.node.as_ref().expect("running").handle()
    }
    fn user_id(&self) -> String {
        self.identity.public.user_id.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_of_twenty_nodes_delivers_once_catches_up_excludes_the_removed_and_converges() {
    // Twenty members; the first knows everyone, the others know only the first.
    let mut members = Vec::with_capacity(MEMBERS);
    for index in 0..MEMBERS {
        let identity = Identity::create(&format!("member{index}")).await;
        let node = identity.start_on(ANY_LOOPBACK_PORT).await;
        let port = card_port(&node.handle().info().card);
        members.push(Member {
            identity,
            node: Some(node),
            port,
        });
    }
    let owner = members[0].handle();
    for member in &members[1..] {
        common::introduce(
            &owner,
            "owner",
            &member.handle(),
            &format!("m{}", member.identity.public.name),
        )
        .await;
    }
    let names: Vec<String> = members[1..].iter().map(Member::user_id).collect();
    let created = owner
        .group_create("friends", &names)
        .await
        .expect("create the group");
    assert_eq!(created.members.len(), MEMBERS);
    let group = created.group_id.clone();
    for member in &members {
        let handle = member.handle();
        let group = group.clone();
        eventually("every member knows the whole group", || {
            let handle = handle.clone();
            let group = group.clone();
            async move {
                members_of(&handle, &group)
                    .await
                    .is_some_and(|members| members.len() == MEMBERS)
            }
        })
        .await;
    }

    // Three members send five messages each: every member has each exactly once.
    let mut sent = Vec::new();
    for sender in [0, 7, 13] {
        for n in 0..5 {
            let body = format!("from {sender} #{n}");
            members[sender]
                .handle()
                .group_send(&group, text(&body))
                .await
                .expect("group send");
            sent.push(body);
        }
    }
    for (index, member) in members.iter().enumerate() {
        let handle = member.handle();
        let group = group.clone();
        let sent = sent.clone();
        eventually(&format!("member {index} has all 15 messages"), || {
            let handle = handle.clone();
            let group = group.clone();
            let sent = sent.clone();
            async move {
                let counts = texts(&handle, &group).await;
                sent.iter().all(|body| counts.contains_key(body))
            }
        })
        .await;
        let counts = texts(&handle, &group).await;
        for body in &sent {
            assert_eq!(
                counts[body], 1,
                "member {index} has {body:?} more than once"
            );
        }
    }
    // Members on the topic heard these over GossipSub (not only carried over Olm).
    let heard: u64 = members
        .iter()
        .map(|member| member.handle().stats().gossip_received)
        .sum();
    assert!(heard > 0, "no group message travelled over GossipSub");

    // Member 5 goes offline for 50 messages, comes back on its port and gets them all.
    let away = 5;
    let node = members[away].node.take().expect("running");
    node.shutdown(&members[away].identity.data_dir).await;
    let mut while_away = Vec::new();
    for n in 0..50 {
        let body = format!("while you were away #{n}");
        owner.group_send(&group, text(&body)).await.expect("send");
        while_away.push(body);
    }
    let listen = format!("/ip4/127.0.0.1/tcp/{}", members[away].port);
    members[away].node = Some(members[away].identity.start_on(&listen).await);
    let returned = members[away].handle();
    eventually("the member back online has the 50 messages", || {
        let handle = returned.clone();
        let group = group.clone();
        let while_away = while_away.clone();
        async move {
            let counts = texts(&handle, &group).await;
            while_away.iter().all(|body| counts.contains_key(body))
        }
    })
    .await;
    let counts = texts(&returned, &group).await;
    assert!(while_away.iter().all(|body| counts[body] == 1));

    // A plain member may not change the membership.
    let plain = members[3].handle();
    let refused = plain
        .group_change_named(&group, "remove", Some(&members[4].user_id()), None, None)
        .await;
    assert!(refused.is_err(), "a plain member removed someone");

    // The owner removes member 9: nothing sent afterwards reaches it.
    let removed = 9;
    owner
        .group_change_named(
            &group,
            "remove",
            Some(&members[removed].user_id()),
            None,
            None,
        )
        .await
        .expect("remove");
    let after = "after the removal".to_owned();
    owner.group_send(&group, text(&after)).await.expect("send");
    for (index, member) in members.iter().enumerate() {
        if index == removed {
            continue;
        }
        let handle = member.handle();
        let group = group.clone();
        let after = after.clone();
        eventually(
            &format!("member {index} has the message after the removal"),
            || {
                let handle = handle.clone();
                let group = group.clone();
                let after = after.clone();
                async move { texts(&handle, &group).await.contains_key(&after) }
            },
        )
        .await;
    }
    let gone = members[removed].handle();
    eventually("the removed member knows it was removed", || {
        let gone = gone.clone();
        let group = group.clone();
        let me = members[removed].user_id();
        async move {
            members_of(&gone, &group)
                .await
                .is_some_and(|members| !members.iter().any(|(user, _)| *user == me))
        }
    })
    .await;
    // Another member sends too (a second session rotated for the removal).
    let also_after = "also after the removal".to_owned();
    members[13]
        .handle()
        .group_send(&group, text(&also_after))
        .await
        .expect("send");
    let owners_view = owner.clone();
    eventually("the owner has the second message after the removal", || {
        let handle = owners_view.clone();
        let group = group.clone();
        let also_after = also_after.clone();
        async move { texts(&handle, &group).await.contains_key(&also_after) }
    })
    .await;
    let counts = texts(&gone, &group).await;
    assert!(
        !counts.contains_key(&after),
        "the removed member read a later message"
    );
    // The keys of the sessions started after the removal reached every member but the removed
    // one: without them Megolm cannot decrypt what those sessions encrypt.
    let new_sessions = [
        owner
            .group_sessions(&group)
            .await
            .expect("sessions")
            .outbound
            .expect("owner's session"),
        members[13]
            .handle()
            .group_sessions(&group)
            .await
            .expect("sessions")
            .outbound
            .expect("a session"),
    ];
    let held_by = |sessions: &omega_core::GroupSessions, id: &str| {
        sessions
            .inbound
            .iter()
            .any(|session| session.session_id == id)
    };
    let gone_sessions = gone.group_sessions(&group).await.expect("sessions");
    for session in &new_sessions {
        assert!(
            !held_by(&gone_sessions, session),
            "the removed member got a new session key"
        );
        let sessions = members[4]
            .handle()
            .group_sessions(&group)
            .await
            .expect("sessions");
        assert!(
            held_by(&sessions, session),
            "a member lacks a new session key"
        );
    }
    assert!(
        !counts.contains_key(&also_after),
        "the removed member read a later message"
    );
    assert!(
        gone.group_send(&group, text("still here?")).await.is_err(),
        "a removed member could still send"
    );

    // Two owners change the membership at the same moment: everyone converges.
    owner
        .group_change_named(
            &group,
            "promote",
            Some(&members[1].user_id()),
            Some("owner"),
            None,
        )
        .await
        .expect("promote");
    let second_owner = members[1].handle();
    let promoted = members[1].user_id();
    eventually("member 1 knows it is an owner", || {
        let handle = second_owner.clone();
        let group = group.clone();
        let promoted = promoted.clone();
        async move {
            members_of(&handle, &group).await.is_some_and(|members| {
                members
                    .iter()
                    .any(|(user, role)| *user == promoted && role == "owner")
            })
        }
    })
    .await;
    let target = members[2].user_id();
    let (first, second) = tokio::join!(
        owner.group_change_named(&group, "remove", Some(&target), None, None),
        second_owner.group_change_named(&group, "promote", Some(&target), Some("admin"), None),
    );
    first.expect("first change");
    second.expect("second change");
    for (index, member) in members.iter().enumerate() {
        if index == removed {
            continue;
        }
        let handle = member.handle();
        let group = group.clone();
        let reference = owner.clone();
        let second = second_owner.clone();
        eventually(&format!("member {index} converges"), || {
            let handle = handle.clone();
            let group = group.clone();
            let reference = reference.clone();
            let second = second.clone();
            async move {
                let mine = members_of(&handle, &group).await;
                let theirs = members_of(&reference, &group).await;
                let other = members_of(&second, &group).await;
                let both_ops = |view: &omega_groups::GroupView| view.n_ops;
                let (Ok(a), Ok(b)) = (reference.group(&group).await, second.group(&group).await)
                else {
                    return false;
                };
                mine.is_some() && mine == theirs && theirs == other && both_ops(&a) == both_ops(&b)
            }
        })
        .await;
    }

    for member in &mut members {
        if let Some(node) = member.node.take() {
            node.shutdown(&member.identity.data_dir).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_lost_on_a_dead_connection_are_asked_again_and_arrive_once() {
    let alice = Identity::create("alice").await;
    let bob = Identity::create("bob").await;
    let a_node = alice.start().await;
    // Bob loses the first two group messages that reach him on the topic, as a connection that
    // died silently would: the sender believes he heard them.
    let mut config = bob.config(ANY_LOOPBACK_PORT, common::PASSPHRASE);
    config.drop_gossip = 2;
    let b_node = Node::start(config).await.expect("start bob");
    let (a, b) = (a_node.handle(), b_node.handle());
    common::introduce(&a, "alice", &b, "bob").await;
    let group = a
        .group_create("pair", &["bob".to_owned()])
        .await
        .expect("create")
        .group_id;
    {
        let b = b.clone();
        let group = group.clone();
        eventually("bob knows the group", move || {
            let b = b.clone();
            let group = group.clone();
            async move { b.group(&group).await.is_ok() }
        })
        .await;
    }
    // Send until two messages went out on the topic and were lost on the way (the first ones
    // may be carried over Olm while Bob is not on the topic yet).
    let mut sent = Vec::new();
    for n in 0..200 {
        let body = format!("message {n}");
        a.group_send(&group, text(&body)).await.expect("send");
        sent.push(body);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if b.stats().gossip_dropped == 2 {
            break;
        }
    }
    assert_eq!(
        b.stats().gossip_dropped,
        2,
        "no message was lost on the topic"
    );
    a.group_send(&group, text("the one after"))
        .await
        .expect("send");
    sent.push("the one after".to_owned());
    {
        let b = b.clone();
        let group = group.clone();
        let sent = sent.clone();
        eventually("bob has every message, the lost ones included", move || {
            let b = b.clone();
            let group = group.clone();
            let sent = sent.clone();
            async move {
                let counts = texts(&b, &group).await;
                sent.iter().all(|body| counts.contains_key(body))
            }
        })
        .await;
    }
    let counts = texts(&b, &group).await;
    assert!(sent.iter().all(|body| counts[body] == 1), "{counts:?}");
    assert!(b.stats().group_resends_asked >= 1);
    assert!(a.stats().group_resends_served >= 2);
    a_node.shutdown(&alice.data_dir).await;
    b_node.shutdown(&bob.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_later_gets_the_group_and_the_others_learn_to_reach_them() {
    let identities = [
        Identity::create("ana").await,
        Identity::create("beto").await,
        Identity::create("caio").await,
    ];
    let mut nodes = Vec::new();
    for identity in &identities {
        nodes.push(identity.start().await);
    }
    let [a, b, c] = [nodes[0].handle(), nodes[1].handle(), nodes[2].handle()];
    // Ana knows both; Beto and Caio know only Ana.
    common::introduce(&a, "ana", &b, "beto").await;
    common::introduce(&a, "ana", &c, "caio").await;
    let group = a
        .group_create("trio", &["beto".to_owned()])
        .await
        .expect("create")
        .group_id;
    let view = a
        .group_change_named(&group, "add", Some("caio"), None, None)
        .await
        .expect("add caio");
    assert_eq!(view.members.len(), 3);
    for (handle, who) in [(&b, "beto"), (&c, "caio")] {
        let handle = handle.clone();
        let group = group.clone();
        eventually(&format!("{who} sees three members"), move || {
            let handle = handle.clone();
            let group = group.clone();
            async move {
                members_of(&handle, &group)
                    .await
                    .is_some_and(|m| m.len() == 3)
            }
        })
        .await;
    }
    // Beto never met Caio: the change carried Caio's card, so Beto's message reaches him.
    b.group_send(&group, text("oi caio")).await.expect("send");
    let c2 = c.clone();
    let group2 = group.clone();
    eventually("caio reads beto", move || {
        let c = c2.clone();
        let group = group2.clone();
        async move { texts(&c, &group).await.contains_key("oi caio") }
    })
    .await;
    for (node, identity) in nodes.into_iter().zip(&identities) {
        node.shutdown(&identity.data_dir).await;
    }
}
