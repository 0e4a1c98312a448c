//! The bytes of a backup file around `omega_crypto::backup`: a [`Write`] that seals as it goes, a
//! [`Read`] that opens and authenticates as it goes (never holding more than one chunk), and the
//! entries of the plaintext (named files, then an end marker). See docs/backup.md.

use std::io::{self, Read, Write};

use anyhow::{Result, bail};
use omega_crypto::backup::{
    BackupError, BackupHeader, BackupOpener, BackupSealer, Chunk, HEADER_LEN, TAG_LEN,
};
use zeroize::Zeroizing;

/// Entry kind: the end of the archive (nothing may follow).
const ENTRY_END: u8 = 0;
/// Entry kind: a file (`name_len: u8, name, size: u64 big endian, size bytes`).
const ENTRY_FILE: u8 = 1;

/// Seals everything written to it into `inner`: the header at once, then a chunk each time a
/// chunk's worth of plaintext has arrived; [`SealingWriter::finish`] seals the final chunk.
pub struct SealingWriter<W: Write> {
    inner: W,
    sealer: Option<BackupSealer>,
    chunk_len: usize,
    /// Plaintext waiting for a full chunk; sealed in place. Its capacity never grows, so no
    /// copy of the plaintext is left behind by a reallocation.
    buffer: Zeroizing<Vec<u8>>,
}

impl<W: Write> SealingWriter<W> {
    /// Writes the header and returns a writer for the plaintext.
    pub fn new(mut inner: W, sealer: BackupSealer) -> io::Result<Self> {
        inner.write_all(sealer.header().as_bytes())?;
        let chunk_len = sealer.chunk_len();
        Ok(SealingWriter {
            inner,
            sealer: Some(sealer),
            chunk_len,
            buffer: Zeroizing::new(Vec::with_capacity(chunk_len + TAG_LEN)),
        })
    }

    /// Seals and writes the final chunk (what is buffered, fewer than a chunk's bytes) and returns
    /// the inner writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        let sealer = self
            .sealer
            .take()
            .ok_or_else(|| invalid(BackupError::TrailingData))?;
        sealer.seal_last(&mut self.buffer).map_err(invalid)?;
        self.inner.write_all(&self.buffer)?;
        self.buffer.clear();
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(sealer) = self.sealer.as_mut() else {
            return Err(invalid(BackupError::TrailingData));
        };
        let take = data.len().min(self.chunk_len - self.buffer.len());
        self.buffer.extend_from_slice(&data[..take]);
        // A full chunk is sealed as soon as it is full: the final chunk is always shorter.
        if self.buffer.len() == self.chunk_len {
            sealer.seal_chunk(&mut self.buffer).map_err(invalid)?;
            self.inner.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(take)
    }

    /// Flushes what was sealed so far (a partial chunk stays buffered until it is full or
    /// [`SealingWriter::finish`] is called).
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the header at the start of a backup file.
pub fn read_header(input: &mut impl Read) -> Result<BackupHeader> {
    let mut bytes = [0u8; HEADER_LEN];
    let got = read_full(input, &mut bytes)?;
    Ok(BackupHeader::parse(&bytes[..got])?)
}

/// Opens a backup's chunks one at a time as they are read. Hands out plaintext only from chunks
/// that authenticated; ends (`Ok(0)`) only after the final chunk authenticated, so reading to the
/// end proves the whole file is intact and complete.
pub struct OpeningReader<R: Read> {
    inner: R,
    opener: BackupOpener,
    sealed_chunk_len: usize,
    /// The current chunk, opened in place; `position` is how much of it was handed out.
    buffer: Zeroizing<Vec<u8>>,
    position: usize,
}

impl<R: Read> OpeningReader<R> {
    /// `inner` is positioned just after the header.
    pub fn new(inner: R, opener: BackupOpener) -> Self {
        let sealed_chunk_len = opener.header().sealed_chunk_len();
        OpeningReader {
            inner,
            opener,
            sealed_chunk_len,
            buffer: Zeroizing::new(Vec::with_capacity(sealed_chunk_len)),
            position: 0,
        }
    }

    /// Reads and opens the next chunk.
    fn next_chunk(&mut self) -> io::Result<()> {
        self.buffer.clear();
        self.buffer.resize(self.sealed_chunk_len, 0);
        self.position = 0;
        let got = read_full(&mut self.inner, &mut self.buffer)?;
        self.buffer.truncate(got);
        if got == 0 {
            self.opener.finish().map_err(invalid)?;
            return Ok(());
        }
        match self.opener.open_chunk(&mut self.buffer) {
            // Either way the buffer now holds authentic plaintext; after the final chunk,
            // `read` reports the end once it is handed out.
            Ok(Chunk::More | Chunk::Last) => Ok(()),
            Err(error) => {
                self.buffer.clear();
                Err(invalid(error))
            }
        }
    }
}

impl<R: Read> Read for OpeningReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.buffer.len() {
            if self.opener.is_complete() {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.buffer.len() - self.position);
        out[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// Reads until `buffer` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn invalid(error: BackupError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// The format error behind an IO error from [`OpeningReader`], if that is what it is.
#[cfg(test)]
pub fn backup_error(error: &anyhow::Error) -> Option<&BackupError> {
    error.chain().find_map(|cause| {
        cause.downcast_ref::<BackupError>().or_else(|| {
            cause
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<BackupError>())
        })
    })
}

/// One entry of the archive, as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A file of `size` bytes follows; read exactly that many.
    File { name: String, size: u64 },
    /// The end: only the end of the stream may follow.
    End,
}

/// Writes a file entry, copying exactly `size` bytes from `content`.
pub fn write_file(
    out: &mut impl Write,
    name: &str,
    size: u64,
    content: &mut impl Read,
) -> Result<()> {
    let Ok(name_len) = u8::try_from(name.len()) else {
        bail!("entry name {name:?} is longer than 255 bytes");
    };
    out.write_all(&[ENTRY_FILE, name_len])?;
    out.write_all(name.as_bytes())?;
    out.write_all(&size.to_be_bytes())?;
    let copied = io::copy(&mut content.take(size), out)?;
    if copied != size {
        bail!("{name} changed while it was being backed up ({copied} of {size} bytes)");
    }
    Ok(())
}

/// Writes the end marker.
pub fn write_end(out: &mut impl Write) -> Result<()> {
    out.write_all(&[ENTRY_END])?;
    Ok(())
}

/// Reads the next entry's header.
pub fn read_entry(input: &mut impl Read) -> Result<Entry> {
    let mut kind = [0u8; 1];
    if read_full(input, &mut kind)? == 0 {
        bail!("the backup is malformed: it ends without its end marker");
    }
    match kind[0] {
        ENTRY_END => Ok(Entry::End),
        ENTRY_FILE => {
            let mut name_len = [0u8; 1];
            exact(input, &mut name_len)?;
            let mut name = vec![0u8; usize::from(name_len[0])];
            exact(input, &mut name)?;
            let Ok(name) = String::from_utf8(name) else {
                bail!("the backup is malformed: an entry name is not UTF-8");
            };
            let mut size = [0u8; 8];
            exact(input, &mut size)?;
            Ok(Entry::File {
                name,
                size: u64::from_be_bytes(size),
            })
        }
        other => bail!("the backup is malformed: unknown entry kind {other}"),
    }
}

/// After the end marker: reads on until the stream ends, which authenticates the final chunk.
pub fn expect_end_of_stream(input: &mut impl Read) -> Result<()> {
    let mut extra = [0u8; 1];
    if read_full(input, &mut extra)? != 0 {
        bail!("the backup is malformed: data follows its end marker");
    }
    Ok(())
}

fn exact(input: &mut impl Read, buffer: &mut [u8]) -> Result<()> {
    if read_full(input, buffer)? != buffer.len() {
        bail!("the backup is malformed: it ends inside an entry header");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use omega_crypto::backup::BackupParams;

    const PASSPHRASE: &[u8] = b"archive test";

    fn params(chunk_len: u32) -> BackupParams {
        BackupParams {
            m_kib: omega_crypto::keystore::SEAL_M_KIB,
            t: omega_crypto::keystore::SEAL_T,
            p: 1,
            chunk_len,
        }
    }

    /// A sealed archive holding `files`, written in odd-sized pieces.
    fn sealed(files: &[(&str, Vec<u8>)], chunk_len: u32) -> Vec<u8> {
        let sealer =
            BackupSealer::new(PASSPHRASE, params(chunk_len), &mut rand::rngs::OsRng).unwrap();
        let mut writer = SealingWriter::new(Vec::new(), sealer).unwrap();
        for (name, content) in files {
            write_file(
                &mut writer,
                name,
                content.len() as u64,
                &mut content.as_slice(),
            )
            .unwrap();
        }
        write_end(&mut writer).unwrap();
        writer.finish().unwrap()
    }

    fn open(file: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        let mut input = file;
        let header = read_header(&mut input)?;
        let opener = BackupOpener::new(&header, PASSPHRASE)?;
        let mut reader = OpeningReader::new(input, opener);
        let mut files = Vec::new();
        while let Entry::File { name, size } = read_entry(&mut reader)? {
            let mut content = Vec::new();
            (&mut reader).take(size).read_to_end(&mut content)?;
            if content.len() as u64 != size {
                bail!("the backup is malformed: {name} ends early");
            }
            files.push((name, content));
        }
        expect_end_of_stream(&mut reader)?;
        Ok(files)
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 253) as u8).collect()
    }

    fn sample() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("a.json", content(10)),
            ("b.db", content(1000)),
            ("empty", Vec::new()),
        ]
    }

    fn error_of(file: &[u8]) -> BackupError {
        let error = open(file).unwrap_err();
        match backup_error(&error) {
            Some(BackupError::Damaged { chunk }) => BackupError::Damaged { chunk: *chunk },
            Some(BackupError::Truncated { chunks }) => BackupError::Truncated { chunks: *chunks },
            _ => panic!("not a format error: {error:#}"),
        }
    }

    #[test]
    fn files_round_trip_through_sealed_chunks_of_any_length() {
        for chunk_len in [16, 17, 64, 1000, 65536] {
            let file = sealed(&sample(), chunk_len);
            let files = open(&file).unwrap();
            let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(
                names,
                ["a.json", "b.db", "empty"],
                "chunk length {chunk_len}"
            );
            assert_eq!(files[1].1, content(1000));
        }
    }

    #[test]
    fn plaintext_that_fills_whole_chunks_gets_an_empty_final_chunk() {
        // Kind, name length, name "n", size (11 bytes), 20 bytes of content and the end marker:
        // exactly two 16-byte chunks of plaintext.
        let file = sealed(&[("n", content(20))], 16);
        assert_eq!(file.len(), HEADER_LEN + 2 * (16 + TAG_LEN) + TAG_LEN);
        assert_eq!(open(&file).unwrap()[0].1, content(20));
    }

    #[test]
    fn removing_the_final_chunk_is_reported_as_truncation() {
        let file = sealed(&sample(), 64);
        let sealed_len = 64 + TAG_LEN;
        let full_chunks = (file.len() - HEADER_LEN) / sealed_len;
        let cut = HEADER_LEN + full_chunks * sealed_len;
        assert!(cut < file.len(), "there is a short final chunk to remove");
        assert!(matches!(
            error_of(&file[..cut]),
            BackupError::Truncated { chunks } if chunks == full_chunks as u64
        ));
    }

    #[test]
    fn cutting_the_file_anywhere_is_refused() {
        let file = sealed(&sample(), 64);
        for cut in (HEADER_LEN..file.len()).step_by(31) {
            let error = open(&file[..cut]).unwrap_err();
            assert!(
                matches!(
                    backup_error(&error),
                    Some(BackupError::Damaged { .. } | BackupError::Truncated { .. })
                ),
                "cut at {cut}: {error:#}"
            );
        }
    }

    #[test]
    fn a_flipped_byte_anywhere_in_the_body_is_refused() {
        let file = sealed(&sample(), 64);
        for at in (HEADER_LEN..file.len()).step_by(37) {
            let mut changed = file.clone();
            changed[at] ^= 0x20;
            let chunk = ((at - HEADER_LEN) / (64 + TAG_LEN)) as u64;
            assert!(
                matches!(error_of(&changed), BackupError::Damaged { chunk: got } if got == chunk),
                "byte {at}"
            );
        }
    }

    #[test]
    fn reordered_chunks_are_refused() {
        let mut file = sealed(&sample(), 64);
        let sealed_len = 64 + TAG_LEN;
        let (a, b) = (HEADER_LEN, HEADER_LEN + sealed_len);
        let first = file[a..b].to_vec();
        file.copy_within(b..b + sealed_len, a);
        file[b..b + sealed_len].copy_from_slice(&first);
        assert!(matches!(error_of(&file), BackupError::Damaged { chunk: 0 }));
    }

    #[test]
    fn the_reader_hands_out_nothing_from_a_chunk_that_does_not_authenticate() {
        let mut file = sealed(&[("big", content(500))], 64);
        file[HEADER_LEN + 3] ^= 1;
        let mut input = file.as_slice();
        let header = read_header(&mut input).unwrap();
        let mut reader = OpeningReader::new(input, BackupOpener::new(&header, PASSPHRASE).unwrap());
        let mut out = [0u8; 8];
        assert_eq!(
            reader.read(&mut out).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(out, [0; 8]);
    }

    #[test]
    fn garbage_is_not_a_backup() {
        let error = read_header(&mut &b"hello, this is not a backup at all"[..]).unwrap_err();
        assert!(
            matches!(backup_error(&error), Some(BackupError::NotABackup)),
            "{error:#}"
        );
    }
}
