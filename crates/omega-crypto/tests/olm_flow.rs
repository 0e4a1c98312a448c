//! The whole Olm flow between two users, as the messenger drives it.

use omega_crypto::device::{MESSAGE_TYPE_NORMAL, MESSAGE_TYPE_PRE_KEY};
use omega_crypto::{
    DeviceAccount, OlmError, OlmSession, PickleError, UserIdentity, VerifiedKeyBundle,
    verify_keys_response,
};
use omega_proto::v1;
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Party {
    identity: UserIdentity,
    device: DeviceAccount,
    signed: v1::SignedDeviceList,
}

fn party(seed: u64, name: &str) -> Party {
    let identity = UserIdentity::generate(&mut StdRng::seed_from_u64(seed));
    let device = DeviceAccount::generate();
    let list = v1::DeviceList {
        user_key: identity.public_key().as_bytes().to_vec(),
        version: 1,
        devices: vec![device.device_info(name.as_bytes().to_vec(), name)],
        created_ms: 1,
    };
    let signed = identity.sign_device_list(&list);
    Party {
        identity,
        device,
        signed,
    }
}

/// Alice fetches Bob's key and sends a first message; Bob creates the inbound session.
fn establish(alice: &Party, bob: &mut Party) -> (OlmSession, OlmSession) {
    let response = bob.device.issue_one_time_key(&bob.signed);
    let bundle: VerifiedKeyBundle =
        verify_keys_response(&response, &bob.identity.public_key()).unwrap();
    let mut alice_session = alice.device.create_outbound(&bundle).unwrap();
    let first = alice_session.encrypt(b"hello bob").unwrap();
    assert_eq!(first.message_type, MESSAGE_TYPE_PRE_KEY);
    let (bob_session, plaintext) = bob
        .device
        .create_inbound(&alice.device.curve25519(), &first)
        .unwrap();
    assert_eq!(plaintext, b"hello bob");
    assert_eq!(alice_session.session_id(), bob_session.session_id());
    (alice_session, bob_session)
}

#[test]
fn full_olm_flow_fifty_messages_each_way() {
    let alice = party(1, "alice");
    let mut bob = party(2, "bob");
    let (mut alice_session, mut bob_session) = establish(&alice, &mut bob);
    assert!(!alice_session.has_received_message());

    let reply = bob_session.encrypt(b"hello alice").unwrap();
    assert_eq!(reply.message_type, MESSAGE_TYPE_NORMAL);
    assert_eq!(alice_session.decrypt(&reply).unwrap(), b"hello alice");
    assert!(alice_session.has_received_message());

    for round in 0..50 {
        let to_bob = format!("alice {round}");
        let message = alice_session.encrypt(to_bob.as_bytes()).unwrap();
        assert_eq!(message.message_type, MESSAGE_TYPE_NORMAL);
        assert_eq!(bob_session.decrypt(&message).unwrap(), to_bob.as_bytes());

        let to_alice = format!("bob {round}");
        let message = bob_session.encrypt(to_alice.as_bytes()).unwrap();
        assert_eq!(
            alice_session.decrypt(&message).unwrap(),
            to_alice.as_bytes()
        );
    }
    // Bursts in one direction (no ratchet turn in between).
    let burst: Vec<_> = (0..50)
        .map(|i| alice_session.encrypt(&[i as u8; 3]).unwrap())
        .collect();
    for (i, message) in burst.iter().enumerate() {
        assert_eq!(bob_session.decrypt(message).unwrap(), [i as u8; 3]);
    }
}

#[test]
fn pre_key_messages_before_a_reply_all_decrypt_in_bobs_session() {
    let alice = party(3, "alice");
    let mut bob = party(4, "bob");
    let (mut alice_session, mut bob_session) = establish(&alice, &mut bob);
    let second = alice_session.encrypt(b"second").unwrap();
    assert_eq!(second.message_type, MESSAGE_TYPE_PRE_KEY);
    assert!(bob_session.matches_prekey(&second));
    assert_eq!(bob_session.decrypt(&second).unwrap(), b"second");

    // A pre-key message of a different session does not match.
    let carol = party(5, "carol");
    let (_, _) = establish(&carol, &mut bob);
    let response = bob.device.issue_one_time_key(&bob.signed);
    let bundle = verify_keys_response(&response, &bob.identity.public_key()).unwrap();
    let mut carol_session = carol.device.create_outbound(&bundle).unwrap();
    let from_carol = carol_session.encrypt(b"hi").unwrap();
    assert!(!bob_session.matches_prekey(&from_carol));
    let normal = bob_session.encrypt(b"x").unwrap();
    assert!(!alice_session.matches_prekey(&normal));
}

#[test]
fn out_of_order_delivery_within_a_session_works() {
    let alice = party(6, "alice");
    let mut bob = party(7, "bob");
    let (mut alice_session, mut bob_session) = establish(&alice, &mut bob);
    let reply = bob_session.encrypt(b"ok").unwrap();
    alice_session.decrypt(&reply).unwrap();

    let messages: Vec<_> = (0..10u8)
        .map(|i| (i, alice_session.encrypt(&[i]).unwrap()))
        .collect();
    for index in [9usize, 0, 5, 1, 8, 2, 7, 3, 6, 4] {
        let (i, message) = &messages[index];
        assert_eq!(bob_session.decrypt(message).unwrap(), [*i]);
    }
    // Across a ratchet turn: an old-chain message delivered after newer ones.
    let late = alice_session.encrypt(b"late").unwrap();
    let turn = bob_session.encrypt(b"turn").unwrap();
    alice_session.decrypt(&turn).unwrap();
    let fresh = alice_session.encrypt(b"fresh").unwrap();
    assert_eq!(bob_session.decrypt(&fresh).unwrap(), b"fresh");
    assert_eq!(bob_session.decrypt(&late).unwrap(), b"late");
}

#[test]
fn a_replayed_message_fails_to_decrypt_a_second_time() {
    let alice = party(8, "alice");
    let mut bob = party(9, "bob");
    let (mut alice_session, mut bob_session) = establish(&alice, &mut bob);
    let reply = bob_session.encrypt(b"ok").unwrap();
    alice_session.decrypt(&reply).unwrap();
    let message = alice_session.encrypt(b"once").unwrap();
    assert_eq!(bob_session.decrypt(&message).unwrap(), b"once");
    assert!(matches!(
        bob_session.decrypt(&message),
        Err(OlmError::Decrypt(_))
    ));
    assert!(matches!(
        alice_session.decrypt(&reply),
        Err(OlmError::Decrypt(_))
    ));
}

#[test]
fn a_replayed_pre_key_message_cannot_create_a_second_session() {
    let alice = party(10, "alice");
    let mut bob = party(11, "bob");
    let response = bob.device.issue_one_time_key(&bob.signed);
    let bundle = verify_keys_response(&response, &bob.identity.public_key()).unwrap();
    let mut alice_session = alice.device.create_outbound(&bundle).unwrap();
    let first = alice_session.encrypt(b"hello").unwrap();
    bob.device
        .create_inbound(&alice.device.curve25519(), &first)
        .unwrap();
    assert!(matches!(
        bob.device
            .create_inbound(&alice.device.curve25519(), &first),
        Err(OlmError::SessionCreation(_))
    ));
}

#[test]
fn inbound_session_with_the_wrong_sender_key_is_refused() {
    let alice = party(12, "alice");
    let mut bob = party(13, "bob");
    let mallory = DeviceAccount::generate();
    let response = bob.device.issue_one_time_key(&bob.signed);
    let bundle = verify_keys_response(&response, &bob.identity.public_key()).unwrap();
    let first = alice
        .device
        .create_outbound(&bundle)
        .unwrap()
        .encrypt(b"x")
        .unwrap();
    assert!(matches!(
        bob.device.create_inbound(&mallory.curve25519(), &first),
        Err(OlmError::SessionCreation(_))
    ));
}

#[test]
fn tampered_and_garbage_messages_are_errors() {
    let alice = party(14, "alice");
    let mut bob = party(15, "bob");
    let (mut alice_session, mut bob_session) = establish(&alice, &mut bob);
    let mut message = alice_session.encrypt(b"payload").unwrap();
    let last = message.body.len() - 1;
    message.body[last] ^= 1;
    assert!(bob_session.decrypt(&message).is_err());
    assert!(matches!(
        bob_session.decrypt(&v1::OlmMessage {
            message_type: 7,
            body: vec![1]
        }),
        Err(OlmError::MessageType { got: 7 })
    ));
    assert!(matches!(
        bob_session.decrypt(&v1::OlmMessage {
            message_type: 1,
            body: vec![]
        }),
        Err(OlmError::Malformed(_))
    ));
}

#[test]
fn pickles_round_trip_and_a_wrong_pickle_key_is_an_error() {
    let alice = party(16, "alice");
    let mut bob = party(17, "bob");
    let (mut alice_session, bob_session) = establish(&alice, &mut bob);
    let key = [3u8; 32];

    let pickled = bob_session.pickle(&key);
    let mut bob_session = OlmSession::from_pickle(&pickled, &key).unwrap();
    assert!(matches!(
        OlmSession::from_pickle(&pickled, &[4u8; 32]),
        Err(PickleError::WrongKey)
    ));
    let bob_device = DeviceAccount::from_pickle(&bob.device.pickle(&key), &key).unwrap();
    assert_eq!(bob_device.curve25519(), bob.device.curve25519());

    let message = alice_session.encrypt(b"after restart").unwrap();
    assert_eq!(bob_session.decrypt(&message).unwrap(), b"after restart");
    let reply = bob_session.encrypt(b"still here").unwrap();
    let mut alice_session = OlmSession::from_pickle(&alice_session.pickle(&key), &key).unwrap();
    assert_eq!(alice_session.decrypt(&reply).unwrap(), b"still here");
}

#[test]
fn an_account_restored_from_a_pickle_still_accepts_its_issued_keys() {
    let alice = party(18, "alice");
    let mut bob = party(19, "bob");
    let response = bob.device.issue_one_time_key(&bob.signed);
    let key = [5u8; 32];
    let mut restored = DeviceAccount::from_pickle(&bob.device.pickle(&key), &key).unwrap();
    let bundle = verify_keys_response(&response, &bob.identity.public_key()).unwrap();
    let first = alice
        .device
        .create_outbound(&bundle)
        .unwrap()
        .encrypt(b"hi")
        .unwrap();
    let (_, plaintext) = restored
        .create_inbound(&alice.device.curve25519(), &first)
        .unwrap();
    assert_eq!(plaintext, b"hi");
}
