//! A read-only file that keeps its first and last 64 KiB in memory.
//!
//! Tag readers jump around a file: ID3v2 and FLAC/Ogg headers at the start, ID3v1 and APE tags at
//! the end, MP4 atoms wherever. Through a plain `BufReader` every jump is an `lseek` plus a fresh
//! read, a dozen system calls per file; with the head and tail loaded up front (two `pread`s, one
//! for files under 128 KiB) a typical file is read without further system calls. Reads elsewhere
//! fall through to `pread` at the current position.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

const EDGE: u64 = 64 * 1024;

pub struct HeadTailFile {
    file: File,
    len: u64,
    pos: u64,
    head: Vec<u8>,
    tail_start: u64,
    tail: Vec<u8>,
}

fn read_exact_at(file: &File, len: usize, offset: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

impl HeadTailFile {
    pub fn open(path: &Path) -> io::Result<HeadTailFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let head_len = len.min(EDGE);
        let head = read_exact_at(&file, head_len as usize, 0)?;
        let tail_start = len.saturating_sub(EDGE).max(head_len);
        let tail = read_exact_at(&file, (len - tail_start) as usize, tail_start)?;
        Ok(HeadTailFile {
            file,
            len,
            pos: 0,
            head,
            tail_start,
            tail,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for HeadTailFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let n = if self.pos < self.head.len() as u64 {
            let from = &self.head[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        } else if self.pos >= self.tail_start {
            let from = &self.tail[(self.pos - self.tail_start) as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        } else {
            // The middle: never past the tail's start, so a read does not skip cached bytes.
            let room = (self.tail_start - self.pos).min(buf.len() as u64) as usize;
            self.file.read_at(&mut buf[..room], self.pos)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for HeadTailFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_the_file_at_any_position() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 10, 70_000, 300_000] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &data).unwrap();
            let mut f = HeadTailFile::open(&path).unwrap();
            assert_eq!(f.len(), size as u64);
            let mut all = Vec::new();
            f.read_to_end(&mut all).unwrap();
            assert_eq!(all, data, "size {size}");
            for at in [0u64, 5, 65_535, 65_536, 100_000, 250_000, 299_999] {
                if at as usize >= size {
                    continue;
                }
                f.seek(SeekFrom::Start(at)).unwrap();
                let mut buf = [0u8; 1000];
                let n = f.read(&mut buf).unwrap();
                assert!(n > 0);
                assert_eq!(
                    &buf[..n],
                    &data[at as usize..at as usize + n],
                    "size {size} at {at}"
                );
            }
            if size > 0 {
                f.seek(SeekFrom::End(-1)).unwrap();
                let mut b = [0u8; 1];
                f.read_exact(&mut b).unwrap();
                assert_eq!(b[0], data[size - 1]);
            }
        }
    }
}
