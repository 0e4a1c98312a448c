//! `omega group …`: groups through the running node's local API.

use anyhow::Result;
use omega_core::{DataDir, MessageView};
use serde_json::{Value, json};

use crate::cli::GroupCommand;
use crate::client::{Client, segment};
use crate::commands::{print_message, print_messages};

pub fn run(data_dir: &DataDir, command: GroupCommand, json: bool) -> Result<()> {
    let client = Client::connect(data_dir)?;
    let change = |group: &str, body: Value| -> Result<()> {
        let view: Value = client.post(&format!("/v1/groups/{}/changes", segment(group)), &body)?;
        print_group(&view, json);
        Ok(())
    };
    match command {
        GroupCommand::Create { name, members } => {
            let view: Value =
                client.post("/v1/groups", &json!({ "name": name, "members": members }))?;
            print_group(&view, json);
            Ok(())
        }
        GroupCommand::Add {
            group,
            member,
            role,
        } => change(
            &group,
            json!({ "action": "add", "member": member, "role": role }),
        ),
        GroupCommand::Remove { group, member } => {
            change(&group, json!({ "action": "remove", "member": member }))
        }
        GroupCommand::Promote {
            group,
            member,
            role,
        } => change(
            &group,
            json!({ "action": "promote", "member": member, "role": role }),
        ),
        GroupCommand::Leave { group, successor } => {
            change(&group, json!({ "action": "leave", "member": successor }))
        }
        GroupCommand::Rename { group, name } => {
            change(&group, json!({ "action": "rename", "name": name }))
        }
        GroupCommand::Send { group, text } => {
            let message: MessageView = client.post(
                &format!("/v1/groups/{}/messages", segment(&group)),
                &json!({ "text": text }),
            )?;
            print_message(&message, json)
        }
        GroupCommand::List => {
            let groups: Vec<Value> = client.get("/v1/groups")?;
            if json {
                println!("{}", Value::Array(groups));
            } else if groups.is_empty() {
                println!("no groups yet (omega group create NAME --members A,B)");
            } else {
                for group in &groups {
                    println!(
                        "{}  {}  {} member(s)",
                        group["group_id"].as_str().unwrap_or_default(),
                        group["name"].as_str().unwrap_or_default(),
                        group["members"].as_array().map_or(0, Vec::len)
                    );
                }
            }
            Ok(())
        }
        GroupCommand::Show { group } => {
            let view: Value = client.get(&format!("/v1/groups/{}", segment(&group)))?;
            print_group(&view, json);
            Ok(())
        }
        GroupCommand::Messages { group, limit } => {
            let messages: Vec<MessageView> = client.get(&format!(
                "/v1/groups/{}/messages?limit={limit}",
                segment(&group)
            ))?;
            print_messages(&messages, json)
        }
        GroupCommand::Timer { group, duration } => {
            let seconds = crate::commands::parse_duration(&duration)?;
            let message: MessageView = client.put(
                &format!("/v1/groups/{}/timer", segment(&group)),
                &json!({ "seconds": seconds }),
            )?;
            print_message(&message, json)
        }
        GroupCommand::Sessions { group } => {
            let sessions: Value =
                client.get(&format!("/v1/groups/{}/sessions", segment(&group)))?;
            if json {
                println!("{sessions}");
            } else {
                println!(
                    "outbound: {}",
                    sessions["outbound"].as_str().unwrap_or("none yet")
                );
                for session in sessions["inbound"].as_array().into_iter().flatten() {
                    println!(
                        "inbound:  {}  from {}",
                        session["session_id"].as_str().unwrap_or_default(),
                        session["sender"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
    }
}

fn print_group(view: &Value, json: bool) {
    if json {
        println!("{view}");
        return;
    }
    println!(
        "{}  {}  (epoch {})",
        view["group_id"].as_str().unwrap_or_default(),
        view["name"].as_str().unwrap_or_default(),
        view["epoch"]
    );
    for member in view["members"].as_array().into_iter().flatten() {
        println!(
            "  {:<6} {}",
            member["role"].as_str().unwrap_or_default(),
            member["user_id"].as_str().unwrap_or_default()
        );
    }
}
