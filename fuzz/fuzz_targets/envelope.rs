//! Fuzzes the envelope decoder and, when it accepts, the signature check (must never panic).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = omega_proto::decode_envelope(data) {
        let _ = omega_crypto::verify_envelope_signature(&envelope);
        let _ = omega_proto::signing::envelope_signing_bytes(&envelope);
    }
    let _ = omega_proto::decode_content(data);
    let _ = omega_proto::decode_ack(data);
    let _ = omega_proto::decode_keys_response(data);
});
