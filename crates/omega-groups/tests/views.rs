//! The JSON shapes `omega group show/list --json` will print.

mod common;

use common::*;
use omega_groups::{GroupView, OpKind, OpView, Role};
use serde_json::json;

#[test]
fn the_group_view_names_members_by_user_id() {
    let mut log = group(&[(1, Role::Admin), (2, Role::Member)]);
    act(
        &mut log,
        &identity(1),
        OpKind::Add {
            user: key(3),
            role: Role::Member,
        },
        2_000,
    );
    let view = GroupView::of(&log);
    let value = serde_json::to_value(&view).unwrap();
    assert_eq!(value["group_id"], json!(log.group_id().to_string()));
    assert_eq!(
        value["topic"],
        json!(format!("/omega/group/{}", log.group_id()))
    );
    assert_eq!(value["name"], json!("test group"));
    assert_eq!(value["epoch"], json!(1));
    assert_eq!(value["n_ops"], json!(1));
    assert_eq!(value["members"].as_array().unwrap().len(), 4);
    assert!(
        value["members"]
            .as_array()
            .unwrap()
            .contains(&json!({ "user_id": key(1).user_id(), "role": "admin" }))
    );
    let back: GroupView = serde_json::from_value(value).unwrap();
    assert_eq!(back, view);
}

#[test]
fn the_op_view_shows_kind_and_effect() {
    let mut log = group(&[(1, Role::Admin), (2, Role::Member)]);
    act(
        &mut log,
        &identity(1),
        OpKind::Remove { user: key(2) },
        2_000,
    );
    let forced = raw_op(&log, &identity(2), OpKind::Leave { successor: None }, 3_000);
    let _ = log.apply(forced).unwrap();
    let views = OpView::list(&log);
    let value = serde_json::to_value(&views).unwrap();
    assert_eq!(
        value[0]["kind"],
        json!({ "type": "remove", "user": key(2).user_id() })
    );
    assert_eq!(value[0]["effect"], json!("applied"));
    assert_eq!(
        value[1]["kind"],
        json!({ "type": "leave", "successor": null })
    );
    assert_eq!(value[1]["effect"], json!("ignored"));
    assert_eq!(value[1]["reason"], json!("not_a_member"));
    let back: Vec<OpView> = serde_json::from_value(value).unwrap();
    assert_eq!(back, views);
}
