//! Smoke tests of `omega bench ingest`, `omega bench leads` and `omega bench files`: the real binary on tiny
//! counts. They check that each runs and prints its lines, never the figures (machines are
//! shared; numbers go to docs/benchmarks.md).

use std::process::{Command, Output, Stdio};

fn omega(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omega"))
        .args(args)
        .env_remove("OMEGA_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run omega")
}

fn ok(args: &[&str]) -> String {
    let output = omega(args);
    assert!(
        output.status.success(),
        "omega {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn assert_lines(output: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            output.lines().any(|l| l.trim_start().starts_with(line)),
            "no line starting with {line:?} in:\n{output}"
        );
    }
}

#[test]
fn bench_ingest_runs_hub_and_baseline_and_judges_the_target() {
    let output = ok(&["bench", "ingest", "--count", "200", "--concurrency", "4"]);
    assert_lines(
        &output,
        &[
            "ingest: 200 WPPConnect webhooks",
            "hub POST /hooks/v1/{channel} (token, parse, store):",
            "hub end to end (stored, normalized, lead-scored):",
            "baseline axum + SQLite insert:",
            "ratio hub/baseline: throughput",
            "seed target p95 < 50 ms at 10000 requests/minute:",
        ],
    );

    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "--json",
        "bench",
        "ingest",
        "--count",
        "100",
        "--concurrency",
        "2",
    ]))
    .expect("json output");
    assert_eq!(json["bench"], "ingest");
    assert_eq!(json["requests"], 100);
    assert!(json["hub_end_to_end_per_second"].as_f64().unwrap() > 0.0);
    assert!(json["target"]["holds"].is_boolean());
}

#[test]
fn bench_leads_prints_quality_of_each_split_and_speed() {
    let output = ok(&["bench", "leads", "--rounds", "2"]);
    assert_lines(
        &output,
        &[
            "leads quality:",
            "set ",
            "dev ",
            "test ",
            "held-out ",
            "leads speed:",
            "lowercase only (floor)",
            "keyword baseline",
            "rule scorer",
            "ratio rules/lowercase",
        ],
    );
    for set in ["dev", "test", "held-out"] {
        for scorer in ["rules", "keyword baseline"] {
            assert!(
                output.lines().any(|l| {
                    let mut words = l.split_whitespace();
                    words.next() == Some(set) && l.contains(scorer)
                }),
                "no {set} row for {scorer} in:\n{output}"
            );
        }
    }
}

#[test]
fn bench_files_prints_file_transfer_and_raw_libp2p_throughput_and_their_ratio() {
    let output = ok(&["bench", "files", "--mib", "4"]);
    assert_lines(
        &output,
        &[
            "omega bench files — a 4 MiB file",
            "upload (read, seal, cache, put to the blob store)",
            "fetch (get, verify, decrypt, write, whole SHA-256)",
            "file transfer (upload then fetch)",
            "raw libp2p request-response, 1 MiB bodies",
            "ratio to raw libp2p:",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "bench", "files", "--mib", "2"])).expect("json");
    assert_eq!(json["bench"], "files");
    assert_eq!(json["bytes"], 2 * 1024 * 1024);
    assert!(json["file_transfer_mb_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["raw_libp2p_mb_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["ratio_file_transfer_to_raw"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_flags_out_of_range_are_refused_with_the_range() {
    for (args, range) in [
        (&["bench", "ingest", "--count", "5"][..], "100..=1000000"),
        (&["bench", "ingest", "--concurrency", "0"][..], "1..=1024"),
        (&["bench", "leads", "--rounds", "0"][..], "1..=100000"),
        (&["bench", "files", "--mib", "0"][..], "1..=1024"),
    ] {
        let output = omega(args);
        assert!(!output.status.success(), "omega {args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid value") && stderr.contains(range),
            "omega {args:?}: {stderr}"
        );
    }
}

#[test]
fn bench_group_delivers_to_every_member_on_both_paths() {
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "--json",
        "bench",
        "group",
        "--members",
        "12",
        "--messages",
        "3",
    ]))
    .expect("json output");
    assert_eq!(json["bench"], "group");
    assert_eq!(json["members"], 12);
    // Every member decrypted every message, and got every raw one.
    assert_eq!(json["group"]["delivered"], 1.0);
    assert_eq!(json["raw_gossipsub"]["delivered"], 1.0);
    assert!(json["ratio_all_members_p50_group_to_raw"].as_f64().unwrap() > 0.0);
    let refused = omega(&["bench", "group", "--members", "1"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("2..=5000"));
}
