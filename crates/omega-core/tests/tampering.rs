//! A hostile peer, Mallory, speaks `/omega/msg/1` to Bob's node directly with hand-built
//! envelopes. Valid ones are accepted; tampered, replayed, misaddressed or garbage ones are
//! refused, counted in Bob's stats and never stored.

mod common;

use common::{Identity, now_ms};
use libp2p::{Multiaddr, PeerId};
use omega_core::{Node, NodeHandle, StatsSnapshot};
use omega_crypto::{
    ContactCard, DeviceAccount, UserIdentity, UserKey, sign_envelope, verify_keys_response,
};
use omega_net::{NetHandle, Protocol};
use omega_proto::{Message, v1};

/// Where Bob's one device is reached, from his card.
struct Target {
    user: UserKey,
    curve25519: [u8; 32],
    peer: PeerId,
    addrs: Vec<Multiaddr>,
}

impl Target {
    fn from_card(card: &str) -> Target {
        let card = ContactCard::parse_uri(card).expect("bob's card");
        let device = &card.devices.devices[0];
        Target {
            user: card.user(),
            curve25519: device.curve25519,
            peer: PeerId::from_bytes(&device.peer_id).expect("peer id"),
            addrs: card
                .addrs
                .iter()
                .map(|addr| addr.parse().expect("multiaddr"))
                .collect(),
        }
    }
}

/// A raw `omega_net` node with its own user and device keys, building envelopes by hand.
struct Mallory {
    net: NetHandle,
    user: UserIdentity,
    account: DeviceAccount,
    devices: v1::SignedDeviceList,
}

impl Mallory {
    async fn start() -> Mallory {
        let keypair = libp2p::identity::Keypair::generate_ed25519();
        let peer_id = keypair.public().to_peer_id();
        let mut config = omega_net::Config::new(keypair);
        config.listen = vec![common::ANY_LOOPBACK_PORT.parse().expect("multiaddr")];
        let (net, mut events) = omega_net::start(config).await.expect("start mallory");
        // Mallory answers nothing (dropping a responder closes the stream); draining keeps the
        // bounded event queue from filling up.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let user = UserIdentity::generate(&mut rand::rngs::OsRng);
        let account = DeviceAccount::generate();
        let devices = user.sign_device_list(&v1::DeviceList {
            user_key: user.public_key().as_bytes().to_vec(),
            version: 1,
            devices: vec![account.device_info(peer_id.to_bytes(), "mallory")],
            created_ms: now_ms(),
        });
        Mallory {
            net,
            user,
            account,
            devices,
        }
    }

    fn user_id(&self) -> String {
        self.user.public_key().user_id()
    }

    /// A genuinely valid pre-key envelope carrying `text` to Bob: fetches one of his one-time
    /// keys over `/omega/keys/1`, opens an Olm session, encrypts and signs.
    async fn valid_envelope(&self, bob: &Target, text: &str) -> v1::Envelope {
        let request = v1::KeysRequest {
            user_key: bob.user.as_bytes().to_vec(),
        }
        .encode_to_vec();
        let response = self
            .net
            .request(Protocol::Keys, bob.peer, bob.addrs.clone(), request)
            .await
            .expect("bob answers the key request");
        let response = omega_proto::decode_keys_response(&response).expect("keys response");
        let bundle = verify_keys_response(&response, &bob.user).expect("valid key bundle");
        assert_eq!(bundle.device.curve25519, bob.curve25519);
        let mut session = self.account.create_outbound(&bundle).expect("olm session");
        let content = v1::Content {
            body: Some(v1::content::Body::Text(v1::Text {
                body: text.into(),
                mentions: Vec::new(),
            })),
            ..v1::Content::default()
        }
        .encode_to_vec();
        let ciphertext = session.encrypt(&content).expect("encrypt");
        assert_eq!(
            ciphertext.message_type,
            omega_crypto::device::MESSAGE_TYPE_PRE_KEY
        );
        let mut envelope = v1::Envelope {
            version: omega_proto::WIRE_VERSION,
            message_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
            sender_user: self.user.public_key().as_bytes().to_vec(),
            sender_device: self.account.ed25519().to_vec(),
            recipient_user: bob.user.as_bytes().to_vec(),
            recipient_device: bob.curve25519.to_vec(),
            timestamp_ms: now_ms(),
            ciphertext: Some(ciphertext),
            sender_devices: Some(self.devices.clone()),
            signature: Vec::new(),
        };
        self.sign(&mut envelope);
        envelope
    }

    fn sign(&self, envelope: &mut v1::Envelope) {
        sign_envelope(&self.account, envelope);
    }

    /// Sends raw bytes on `/omega/msg/1` and decodes Bob's acknowledgement.
    async fn send(&self, bob: &Target, bytes: Vec<u8>) -> v1::Ack {
        let answer = self
            .net
            .request(Protocol::Msg, bob.peer, bob.addrs.clone(), bytes)
            .await
            .expect("bob answers the envelope");
        omega_proto::decode_ack(&answer).expect("ack")
    }
}

/// Bob's running node, Mallory, and where Mallory reaches Bob.
struct Scene {
    bob_id: Identity,
    bob: Node,
    mallory: Mallory,
    target: Target,
}

impl Scene {
    async fn new() -> Scene {
        let bob_id = Identity::create("Bob").await;
        let bob = bob_id.start().await;
        let target = Target::from_card(&bob.handle().info().card);
        let mallory = Mallory::start().await;
        Scene {
            bob_id,
            bob,
            mallory,
            target,
        }
    }

    fn bob(&self) -> NodeHandle {
        self.bob.handle()
    }

    async fn n_stored(&self) -> usize {
        self.bob()
            .messages(None, 10_000)
            .await
            .expect("messages")
            .len()
    }

    /// Sends `bytes` to Bob and checks it was refused, not stored, and counted once by `counter`.
    async fn assert_refused(
        &self,
        bytes: Vec<u8>,
        counter: fn(&StatsSnapshot) -> u64,
        expected_id: &[u8],
    ) -> v1::Ack {
        let before = self.bob().stats();
        let n_before = self.n_stored().await;
        let ack = self.mallory.send(&self.target, bytes).await;
        assert_eq!(
            ack.status,
            v1::AckStatus::Refused as i32,
            "refused, reason: {:?}",
            ack.reason
        );
        assert!(!ack.reason.is_empty(), "a refusal says why");
        assert_eq!(ack.message_id, expected_id);
        let after = self.bob().stats();
        assert_eq!(counter(&after), counter(&before) + 1, "{after:?}");
        assert_eq!(
            after.refused(),
            before.refused() + 1,
            "counted once: {after:?}"
        );
        assert_eq!(after.received, before.received, "nothing received");
        assert_eq!(self.n_stored().await, n_before, "nothing stored");
        ack
    }

    async fn stop(self) {
        self.mallory.net.shutdown().await;
        self.bob.shutdown(&self.bob_id.data_dir).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_envelope_from_a_stranger_is_accepted_and_stored() {
    let scene = Scene::new().await;
    let envelope = scene.mallory.valid_envelope(&scene.target, "hi bob").await;
    let ack = scene
        .mallory
        .send(&scene.target, envelope.encode_to_vec())
        .await;
    assert_eq!(
        ack.status,
        v1::AckStatus::Accepted as i32,
        "{:?}",
        ack.reason
    );
    assert_eq!(ack.message_id, envelope.message_id);

    let bob = scene.bob();
    let stored = bob
        .messages(Some(&scene.mallory.user_id()), 10)
        .await
        .expect("mallory is now known to bob");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, "hi bob");
    assert_eq!(stored[0].direction, "in");
    assert_eq!(stored[0].from, scene.mallory.user_id());
    assert_eq!(
        stored[0].message_id,
        uuid::Uuid::from_slice(&envelope.message_id)
            .expect("uuid")
            .to_string()
    );
    assert_eq!(bob.stats().received, 1);
    assert_eq!(bob.stats().refused(), 0);
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_ciphertext_is_refused_and_not_stored() {
    let scene = Scene::new().await;
    let original = scene.mallory.valid_envelope(&scene.target, "hi bob").await;
    let mut envelope = original.clone();
    let body = &mut envelope.ciphertext.as_mut().expect("ciphertext").body;
    let last = body.len() - 1;
    body[last] ^= 0x01;
    scene
        .assert_refused(
            envelope.encode_to_vec(),
            |stats| stats.refused_bad_signature,
            &envelope.message_id,
        )
        .await;

    // A tampered copy arriving first neither burns the message id nor the one-time key.
    let ack = scene
        .mallory
        .send(&scene.target, original.encode_to_vec())
        .await;
    assert_eq!(
        ack.status,
        v1::AckStatus::Accepted as i32,
        "{:?}",
        ack.reason
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_ciphertext_signed_again_is_undecryptable_and_not_stored() {
    // The sender's own device tampers (or garbles) the ciphertext: the signature holds, Olm's MAC
    // does not.
    let scene = Scene::new().await;
    let original = scene.mallory.valid_envelope(&scene.target, "hi bob").await;
    let mut envelope = original.clone();
    let body = &mut envelope.ciphertext.as_mut().expect("ciphertext").body;
    let last = body.len() - 1;
    body[last] ^= 0x01;
    scene.mallory.sign(&mut envelope);
    scene
        .assert_refused(
            envelope.encode_to_vec(),
            |stats| stats.refused_undecryptable,
            &envelope.message_id,
        )
        .await;

    // The failed decryption did not consume the one-time key the genuine message needs.
    let ack = scene
        .mallory
        .send(&scene.target, original.encode_to_vec())
        .await;
    assert_eq!(
        ack.status,
        v1::AckStatus::Accepted as i32,
        "{:?}",
        ack.reason
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_signature_bit_is_refused() {
    let scene = Scene::new().await;
    let mut envelope = scene.mallory.valid_envelope(&scene.target, "hi bob").await;
    envelope.signature[10] ^= 0x04;
    scene
        .assert_refused(
            envelope.encode_to_vec(),
            |stats| stats.refused_bad_signature,
            &envelope.message_id,
        )
        .await;
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_envelope_is_not_stored_twice() {
    let scene = Scene::new().await;
    let envelope = scene
        .mallory
        .valid_envelope(&scene.target, "only once")
        .await;
    let bytes = envelope.encode_to_vec();
    let first = scene.mallory.send(&scene.target, bytes.clone()).await;
    assert_eq!(
        first.status,
        v1::AckStatus::Accepted as i32,
        "{:?}",
        first.reason
    );
    let n_stored = scene.n_stored().await;
    let before = scene.bob().stats();

    let replay = scene.mallory.send(&scene.target, bytes).await;
    assert_eq!(
        replay.status,
        v1::AckStatus::Duplicate as i32,
        "{:?}",
        replay.reason
    );
    assert_eq!(replay.message_id, envelope.message_id);
    let after = scene.bob().stats();
    assert_eq!(after.duplicates, before.duplicates + 1);
    assert_eq!(after.received, before.received);
    assert_eq!(after.refused(), before.refused());
    assert_eq!(scene.n_stored().await, n_stored);
    let texts: Vec<_> = scene
        .bob()
        .messages(Some(&scene.mallory.user_id()), 10)
        .await
        .expect("messages")
        .into_iter()
        .map(|message| message.text)
        .collect();
    assert_eq!(texts, ["only once"]);
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_for_another_user_is_refused() {
    let scene = Scene::new().await;
    let mut envelope = scene.mallory.valid_envelope(&scene.target, "hi bob").await;
    let someone_else = UserIdentity::generate(&mut rand::rngs::OsRng).public_key();
    envelope.recipient_user = someone_else.as_bytes().to_vec();
    scene.mallory.sign(&mut envelope);
    scene
        .assert_refused(
            envelope.encode_to_vec(),
            |stats| stats.refused_wrong_recipient,
            &envelope.message_id,
        )
        .await;
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_are_refused_as_malformed() {
    let scene = Scene::new().await;
    for garbage in [
        b"\xff\xff\xff\xff".to_vec(),
        b"hello bob".to_vec(),
        vec![0u8; 1024],
    ] {
        scene
            .assert_refused(garbage, |stats| stats.refused_malformed, &[])
            .await;
    }
    scene.stop().await;
}
