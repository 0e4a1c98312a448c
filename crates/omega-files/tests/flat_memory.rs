//! A large file (200 MB unless `OMEGA_FILES_FLAT_MB` says otherwise) sealed from disk into a
//! directory of chunk files (a stand-in for a blob store) and fetched back into a part file by a
//! receiver process that is killed (SIGKILL) halfway, then resumed: a corrupted chunk is caught
//! and fetched again, chunks arrive out of order, memory stays flat (peak RSS printed and
//! bounded, for the sender, the killed receiver and the resumed one), and the file comes back
//! identical, its hash verified.
//!
//! Alone in its test binary so that the peak RSS (`VmHWM`) is this test's: the receiver that gets
//! killed is this same binary run again with [`CHILD_DIR`] set, running only
//! `receiver_helper_killed_halfway`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use omega_files::{DEFAULT_CHUNK_LEN, Delivery, Fetcher, Manifest, Sealer};
use rand::RngCore;
use sha2::{Digest, Sha256};

const MIB: u64 = 1024 * 1024;
/// Set in the receiver process: the test's directory.
const CHILD_DIR: &str = "OMEGA_FILES_TEST_RECEIVER_DIR";
/// The chunk the receiver first gets damaged.
const DAMAGED_CHUNK: u32 = 7;
/// Memory the whole round trip may add to the process, beyond what it held at the start.
const MAX_GROWTH: u64 = 64 * MIB;

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

fn open_part(path: &Path, truncate: bool) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .unwrap()
}

/// Writes `size` bytes of noise (a random 1 MiB block, varied per block) to `path`; returns
/// their SHA-256.
fn write_source(path: &Path, size: u64) -> [u8; 32] {
    let mut block = vec![0u8; MIB as usize];
    rand::rngs::OsRng.fill_bytes(&mut block);
    let mut out = BufWriter::new(File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut n = 0u64;
    while written < size {
        block[..8].copy_from_slice(&n.to_le_bytes());
        let len = (size - written).min(MIB) as usize;
        out.write_all(&block[..len]).unwrap();
        hasher.update(&block[..len]);
        written += len as u64;
        n += 1;
    }
    out.flush().unwrap();
    hasher.finalize().into()
}

fn sha256_of_file(path: &Path) -> [u8; 32] {
    let mut file = File::open(path).unwrap();
    let mut block = vec![0u8; MIB as usize];
    let mut hasher = Sha256::new();
    loop {
        let n = file.read(&mut block).unwrap();
        if n == 0 {
            return hasher.finalize().into();
        }
        hasher.update(&block[..n]);
    }
}

fn persist(record_path: &Path, bytes: &[u8]) {
    let temporary = record_path.with_extension("tmp");
    fs::write(&temporary, bytes).unwrap();
    fs::rename(&temporary, record_path).unwrap();
}

/// The receiver's first run, in its own process: about half the chunks (every tenth one held
/// back, so the rest arrive out of order later, and one delivered damaged first), the record
/// persisted after each; then one more chunk written without its record; then it says `HALF`
/// and waits to be killed.
#[test]
fn receiver_helper_killed_halfway() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return; // Only runs as the receiver process of the test below.
    };
    let dir = Path::new(&dir);
    let chunk_dir = dir.join("chunks");
    let fetch = |id: &omega_files::ChunkId| fs::read(chunk_dir.join(id.to_hex())).unwrap();
    let manifest = Manifest::from_bytes(&fs::read(dir.join("manifest")).unwrap()).unwrap();
    let half = manifest.chunk_count() as usize / 2;
    let mut fetcher = Fetcher::new(manifest, open_part(&dir.join("received.part"), true));
    let first_run: Vec<_> = fetcher
        .next_wanted(half)
        .into_iter()
        .filter(|wanted| wanted.index % 10 != 3)
        .collect();
    for wanted in first_run {
        if wanted.index == DAMAGED_CHUNK {
            let mut damaged = fetch(&wanted.id);
            damaged[12_345] ^= 0x40;
            assert_eq!(
                fetcher.deliver(&wanted.id, damaged).unwrap(),
                Delivery::Corrupt {
                    index: DAMAGED_CHUNK
                }
            );
        }
        let delivery = fetcher.deliver(&wanted.id, fetch(&wanted.id)).unwrap();
        assert_eq!(
            delivery,
            Delivery::Stored {
                index: wanted.index
            }
        );
        persist(
            &dir.join("received.progress"),
            &fetcher.progress().to_bytes(),
        );
    }
    assert_eq!(fetcher.n_corrupt(), 1);
    let extra = fetcher.next_wanted(half + 1)[half / 2];
    let _ = fetcher.deliver(&extra.id, fetch(&extra.id)).unwrap();
    println!(
        "HALF {} {} {}",
        fetcher.progress().n_verified(),
        status_bytes("VmRSS:"),
        status_bytes("VmHWM:")
    );
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    panic!("the receiver was not killed");
}

#[test]
fn a_large_file_round_trips_through_disk_with_flat_memory_and_a_killed_receiver() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let size_mb: u64 = std::env::var("OMEGA_FILES_FLAT_MB")
        .ok()
        .map(|mb| mb.parse().expect("OMEGA_FILES_FLAT_MB is a number of MB"))
        .unwrap_or(200);
    let size = size_mb * 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.bin");
    let chunk_dir = dir.path().join("chunks");
    fs::create_dir(&chunk_dir).unwrap();
    let part_path = dir.path().join("received.part");
    let record_path = dir.path().join("received.progress");
    let source_sha = write_source(&source, size);

    let start_rss = status_bytes("VmRSS:");

    // Send: seal chunk by chunk into files named by chunk id.
    let started = Instant::now();
    let mut sealer = Sealer::new(
        File::open(&source).unwrap(),
        DEFAULT_CHUNK_LEN,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    while let Some(chunk) = sealer.next_chunk().unwrap() {
        fs::write(chunk_dir.join(chunk.id.to_hex()), &chunk.bytes).unwrap();
    }
    let manifest_bytes = sealer.finish("big.bin").unwrap().to_bytes();
    fs::write(dir.path().join("manifest"), manifest_bytes.as_slice()).unwrap();
    let seal_secs = started.elapsed().as_secs_f64();
    let after_seal_hwm = status_bytes("VmHWM:");

    // Receive, first run: another process, killed (SIGKILL) once it is halfway.
    let started = Instant::now();
    let mut receiver = Command::new(std::env::current_exe().unwrap())
        .args(["receiver_helper_killed_halfway", "--exact", "--nocapture"])
        .env(CHILD_DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    for line in BufReader::new(receiver.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("HALF ") {
            said = line;
            break;
        }
    }
    receiver.kill().unwrap();
    let status = receiver.wait().unwrap();
    assert!(!status.success(), "the receiver was killed: {status}");
    let said: Vec<u64> = said
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let [n_written, receiver_rss, receiver_hwm] = said[..] else {
        panic!("the receiver never got halfway");
    };
    let first_run_secs = started.elapsed().as_secs_f64();

    // Second run, here: rebuilt from the manifest, the part file and the last record.
    let started = Instant::now();
    let manifest = Manifest::from_bytes(&manifest_bytes).unwrap();
    assert_eq!(manifest.sha256(), &source_sha);
    let n_chunks = manifest.chunk_count();
    let record = fs::read(&record_path).unwrap();
    let mut fetcher = Fetcher::resume(manifest, open_part(&part_path, false), &record).unwrap();
    let n_recorded = fetcher.progress().n_verified();
    assert_eq!(
        u64::from(n_recorded) + 1,
        n_written,
        "the last chunk had no record"
    );
    assert!(n_recorded > n_chunks / 3 && n_recorded < n_chunks / 2);
    let fetch = |id: &omega_files::ChunkId| fs::read(chunk_dir.join(id.to_hex())).unwrap();
    let mut complete = false;
    while !complete {
        let batch = fetcher.next_wanted(8);
        assert!(!batch.is_empty(), "chunks wanted until complete");
        for wanted in batch.iter().rev() {
            match fetcher.deliver(&wanted.id, fetch(&wanted.id)).unwrap() {
                Delivery::Complete => complete = true,
                Delivery::Stored { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(fetcher.is_complete());
    drop(fetcher);
    let resume_secs = started.elapsed().as_secs_f64();

    assert_eq!(fs::metadata(&part_path).unwrap().len(), size);
    assert_eq!(sha256_of_file(&part_path), source_sha);

    let peak = status_bytes("VmHWM:");
    let mb = |bytes: u64| bytes as f64 / MIB as f64;
    println!(
        "{size_mb} MB in {n_chunks} chunks of 1 MiB: seal {seal_secs:.2} s ({:.0} MB/s); receiver \
         killed after {n_written} chunks ({first_run_secs:.2} s), resumed from {n_recorded} and \
         finished in {resume_secs:.2} s; peak RSS: sender and resumed receiver {:.1} MiB (start \
         {:.1}, after sealing {:.1}), killed receiver {:.1} MiB (at kill {:.1}); bound {:.0} MiB \
         over the start",
        size_mb as f64 / seal_secs,
        mb(peak),
        mb(start_rss),
        mb(after_seal_hwm),
        mb(receiver_hwm),
        mb(receiver_rss),
        mb(MAX_GROWTH),
    );
    assert!(
        peak < start_rss + MAX_GROWTH,
        "peak RSS {:.1} MiB grew more than {:.0} MiB over {:.1} MiB",
        mb(peak),
        mb(MAX_GROWTH),
        mb(start_rss)
    );
    assert!(
        receiver_hwm < start_rss + MAX_GROWTH,
        "the killed receiver's peak RSS was {:.1} MiB",
        mb(receiver_hwm)
    );
}
