//! Stream encoding for `/omega/msg/1`, `/omega/keys/1` and `/omega/mailbox/1` (one framing for
//! all three; only the limits differ).
//!
//! One request-response exchange uses one stream. Each side writes a single frame and closes its
//! write half:
//!
//! ```text
//! frame = uvarint(len) || body[len]
//! ```
//!
//! `uvarint` is the unsigned LEB128 varint used across libp2p (at most 10 bytes, value fits in
//! `u64`). The reader refuses a declared length above its limit before allocating anything, so
//! a peer cannot make us buffer more than `max_request_bytes` / `max_response_bytes`. The writer
//! refuses to send a body over its own limit. Bodies are opaque to this crate.

use std::{fmt, io};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};

/// Protocol name of the message exchange.
pub const MSG_PROTOCOL: &str = "/omega/msg/1";
/// Protocol name of the key exchange.
pub const KEYS_PROTOCOL: &str = "/omega/keys/1";
/// Protocol name of the mailbox (store-and-forward server) exchange.
pub const MAILBOX_PROTOCOL: &str = "/omega/mailbox/1";
/// Protocol name of the blob (sealed file chunk) exchange.
pub const BLOB_PROTOCOL: &str = "/omega/blob/1";
/// Protocol name of device linking (a new device joins its user).
pub const LINK_PROTOCOL: &str = "/omega/link/1";
/// Protocol version advertised through identify.
pub const IDENTIFY_PROTOCOL: &str = "/omega/id/1.0.0";
/// Protocol name of our Kademlia DHT (kept apart from the public IPFS DHT).
pub const KAD_PROTOCOL: &str = "/omega/kad/1.0.0";

/// Longest uvarint accepted: 10 bytes hold any `u64`.
const MAX_VARINT_BYTES: usize = 10;

/// Bodies up to this size are written together with their length prefix in one write, so a
/// small frame leaves as one muxer frame.
const COALESCE_BYTES: usize = 16 * 1024;

/// Why a frame could not be read or written. Carried inside [`io::Error`] (the codec trait
/// speaks `io::Result`) and recovered by the driver with a downcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The declared or actual body length is over the limit.
    TooLarge { got: usize, limit: usize },
    /// The stream ended before the first byte of a frame: the peer sent nothing.
    Closed,
    /// The length prefix is longer than 10 bytes or overflows `u64`.
    BadLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { got, limit } => {
                write!(f, "frame of {got} bytes is over the limit of {limit} bytes")
            }
            Self::Closed => write!(f, "stream closed before a frame was sent"),
            Self::BadLength => write!(f, "frame length prefix is not a valid uvarint"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for io::Error {
    fn from(error: FrameError) -> Self {
        let kind = match error {
            FrameError::Closed => io::ErrorKind::UnexpectedEof,
            FrameError::TooLarge { .. } | FrameError::BadLength => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

impl FrameError {
    /// Recovers a [`FrameError`] from an [`io::Error`] produced by this module.
    pub(crate) fn from_io(error: &io::Error) -> Option<Self> {
        error.get_ref()?.downcast_ref::<FrameError>().copied()
    }
}

/// Reads one frame whose body must not exceed `limit` bytes.
pub(crate) async fn read_frame<T>(io: &mut T, limit: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin,
{
    let declared = read_uvarint(io).await?;
    let got = usize::try_from(declared).unwrap_or(usize::MAX);
    if got > limit {
        return Err(FrameError::TooLarge { got, limit }.into());
    }
    let mut body = vec![0u8; got];
    io.read_exact(&mut body).await?;
    Ok(body)
}

/// Writes one frame, refusing a body over `limit` bytes. Does not close the stream.
pub(crate) async fn write_frame<T>(io: &mut T, body: &[u8], limit: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin,
{
    if body.len() > limit {
        return Err(FrameError::TooLarge {
            got: body.len(),
            limit,
        }
        .into());
    }
    let mut prefix = [0u8; MAX_VARINT_BYTES];
    let prefix = encode_uvarint(body.len() as u64, &mut prefix);
    if body.len() <= COALESCE_BYTES {
        let mut frame = Vec::with_capacity(prefix.len() + body.len());
        frame.extend_from_slice(prefix);
        frame.extend_from_slice(body);
        io.write_all(&frame).await?;
    } else {
        io.write_all(prefix).await?;
        io.write_all(body).await?;
    }
    io.flush().await
}

fn encode_uvarint(mut value: u64, buf: &mut [u8; MAX_VARINT_BYTES]) -> &[u8] {
    let mut n = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            buf[n] = byte;
            return &buf[..=n];
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
}

async fn read_uvarint<T>(io: &mut T) -> io::Result<u64>
where
    T: AsyncRead + Unpin,
{
    let mut value: u64 = 0;
    for index in 0..MAX_VARINT_BYTES {
        let mut byte = [0u8; 1];
        if io.read(&mut byte).await? == 0 {
            return Err(if index == 0 {
                FrameError::Closed.into()
            } else {
                io::ErrorKind::UnexpectedEof.into()
            });
        }
        let bits = u64::from(byte[0] & 0x7f);
        let shift = 7 * index as u32;
        if index == MAX_VARINT_BYTES - 1 && bits > 1 {
            return Err(FrameError::BadLength.into());
        }
        value |= bits << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FrameError::BadLength.into())
}

/// Length-prefixed opaque bytes with separate request and response limits.
///
/// One instance per protocol; `request_response` clones it into every connection handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameCodec {
    pub(crate) max_request_bytes: usize,
    pub(crate) max_response_bytes: usize,
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request_bytes).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response_bytes).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.max_request_bytes).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.max_response_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use futures::{executor::block_on, io::Cursor};
    use proptest::prelude::*;

    use super::*;

    fn encoded(body: &[u8]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(write_frame(&mut out, body, usize::MAX)).unwrap();
        out.into_inner()
    }

    #[test]
    fn frame_bytes_are_uvarint_length_then_body() {
        assert_eq!(encoded(b""), vec![0x00]);
        assert_eq!(encoded(b"hi"), vec![0x02, b'h', b'i']);
        let body = vec![7u8; 300];
        let bytes = encoded(&body);
        assert_eq!(&bytes[..2], &[0xac, 0x02]);
        assert_eq!(&bytes[2..], &body[..]);
    }

    #[test]
    fn declared_length_over_limit_is_refused_before_reading_body() {
        // Declares 1 MiB but carries nothing: refused on the prefix alone.
        let mut prefix = [0u8; MAX_VARINT_BYTES];
        let bytes = encode_uvarint(1 << 20, &mut prefix).to_vec();
        let error = block_on(read_frame(&mut Cursor::new(bytes), 1024)).unwrap_err();
        assert_eq!(
            FrameError::from_io(&error),
            Some(FrameError::TooLarge {
                got: 1 << 20,
                limit: 1024
            })
        );
    }

    #[test]
    fn writer_refuses_body_over_limit() {
        let mut out = Cursor::new(Vec::new());
        let error = block_on(write_frame(&mut out, &[0u8; 11], 10)).unwrap_err();
        assert_eq!(
            FrameError::from_io(&error),
            Some(FrameError::TooLarge { got: 11, limit: 10 })
        );
        assert!(out.into_inner().is_empty());
    }

    #[test]
    fn empty_stream_reads_as_closed() {
        let error = block_on(read_frame(&mut Cursor::new(Vec::new()), 10)).unwrap_err();
        assert_eq!(FrameError::from_io(&error), Some(FrameError::Closed));
    }

    #[test]
    fn truncated_body_is_an_unexpected_eof() {
        let error = block_on(read_frame(&mut Cursor::new(vec![5, 1, 2]), 10)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(FrameError::from_io(&error), None);
    }

    #[test]
    fn overlong_length_prefix_is_refused() {
        let error = block_on(read_frame(&mut Cursor::new(vec![0xff; 11]), 10)).unwrap_err();
        assert_eq!(FrameError::from_io(&error), Some(FrameError::BadLength));
        let mut max = vec![0xff; 9];
        max.push(0x02); // 10th byte may only carry bit 63
        let error = block_on(read_frame(&mut Cursor::new(max), 10)).unwrap_err();
        assert_eq!(FrameError::from_io(&error), Some(FrameError::BadLength));
    }

    proptest! {
        #[test]
        fn uvarint_round_trips(value: u64) {
            let mut buf = [0u8; MAX_VARINT_BYTES];
            let bytes = encode_uvarint(value, &mut buf).to_vec();
            prop_assert_eq!(block_on(read_uvarint(&mut Cursor::new(bytes))).unwrap(), value);
        }

        #[test]
        fn frame_round_trips(body in proptest::collection::vec(any::<u8>(), 0..40_000)) {
            let bytes = encoded(&body);
            let read = block_on(read_frame(&mut Cursor::new(bytes), body.len())).unwrap();
            prop_assert_eq!(read, body);
        }

        #[test]
        fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = block_on(read_frame(&mut Cursor::new(bytes), 32));
        }
    }
}
