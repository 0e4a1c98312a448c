//! Compiles `proto/` with protox (pure Rust, no `protoc` needed) and generates prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let file = root.join("omega/v1/omega.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let descriptors = protox::compile([&file], [&root])?;
    // These carry secrets: their `Debug` is written by hand (in lib.rs) and prints none.
    prost_build::Config::new()
        .skip_debug([".omega.v1.LinkPayload", ".omega.v1.LinkInvite"])
        .compile_fds(descriptors)?;
    Ok(())
}
