//! Backup files (`micro snapshot save`): a first line naming the format, a JSON line with the
//! snapshot's description, then the snapshot bytes. Reading one checks its size, checksum and
//! encoding before anything trusts it, so a truncated or corrupt file is refused whole.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use micro_proto::cluster::SnapshotInfo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First line of every backup file.
pub const MAGIC: &str = "MICRO-SNAPSHOT 1";

/// What the second line of a backup file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Log index the snapshot covers.
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// Bytes of snapshot data that follow.
    pub size: u64,
    /// SHA-256 of those bytes, hex.
    pub sha256: String,
    /// The node that built it.
    pub node_id: String,
    /// SHA-256 of the config secret key that sealed the secrets inside, hex.
    pub config_key_sha256: String,
}

impl From<&SnapshotInfo> for Header {
    fn from(i: &SnapshotInfo) -> Self {
        Header {
            index: i.index,
            term: i.term,
            size: i.size,
            sha256: i.sha256.clone(),
            node_id: format!("{:016x}", i.node_id),
            config_key_sha256: i.config_key_sha256.clone(),
        }
    }
}

/// Writes the first two lines of a backup file.
pub fn write_header(out: &mut impl Write, header: &Header) -> Result<()> {
    writeln!(out, "{MAGIC}")?;
    serde_json::to_writer(&mut *out, header)?;
    writeln!(out)?;
    Ok(())
}

/// A backup file read and checked.
#[derive(Debug)]
pub struct Backup {
    /// Its description.
    pub header: Header,
    /// Every state pair, in key order.
    pub pairs: Vec<micro_state_machine::kv::Pair>,
}

impl Backup {
    /// Reads `path`, refusing it unless the size, checksum and encoding all check out.
    pub fn read(path: &Path) -> Result<Backup> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = std::io::BufReader::new(file);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim_end() != MAGIC {
            bail!("{} is not a micro snapshot file", path.display());
        }
        line.clear();
        reader.read_line(&mut line)?;
        let header: Header = serde_json::from_str(line.trim_end())
            .with_context(|| format!("{}: unreadable header", path.display()))?;
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut data)?;
        if data.len() as u64 != header.size {
            bail!(
                "{}: truncated or padded: {} bytes of snapshot data, the header says {}",
                path.display(),
                data.len(),
                header.size
            );
        }
        let sum = hex::encode(Sha256::digest(&data));
        if sum != header.sha256 {
            bail!(
                "{}: checksum mismatch (sha256 {sum}, the header says {}): the file is corrupt",
                path.display(),
                header.sha256
            );
        }
        let pairs = micro_state_machine::snapshot::decode(&data)
            .with_context(|| format!("{}: the snapshot data does not decode", path.display()))?;
        Ok(Backup { header, pairs })
    }

    /// (what, how many) for each kind of record the snapshot holds.
    pub fn census(&self) -> Vec<(&'static str, u64)> {
        micro_state_machine::snapshot::census(&self.pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(
        dir: &Path,
        data: &[u8],
        tamper: impl FnOnce(&mut Header, &mut Vec<u8>),
    ) -> std::path::PathBuf {
        let mut header = Header {
            index: 7,
            term: 2,
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
            node_id: "0000000000000001".into(),
            config_key_sha256: String::new(),
        };
        let mut body = data.to_vec();
        tamper(&mut header, &mut body);
        let path = dir.join(format!("b{}", rand::random::<u32>()));
        let mut out = Vec::new();
        write_header(&mut out, &header).unwrap();
        out.extend_from_slice(&body);
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn a_good_file_reads_and_every_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pairs = vec![
            (b"s/db\0t\0k".to_vec(), b"v".to_vec()),
            (b"u/micro\0admin".to_vec(), b"a".to_vec()),
        ];
        let data = micro_state_machine::snapshot::encode(&pairs).unwrap();
        let good = Backup::read(&file(dir.path(), &data, |_, _| {})).unwrap();
        assert_eq!(good.pairs, pairs);
        let census = good.census();
        assert!(census.contains(&("store records", 1)) && census.contains(&("auth accounts", 1)));

        let truncated = file(dir.path(), &data, |_, b| b.truncate(b.len() - 1));
        assert!(Backup::read(&truncated)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        let flipped = file(dir.path(), &data, |_, b| b[6] ^= 1);
        assert!(Backup::read(&flipped)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        let lying = file(dir.path(), b"MSNP\x01garbage", |_, _| {});
        assert!(Backup::read(&lying)
            .unwrap_err()
            .to_string()
            .contains("does not decode"));
        let foreign = dir.path().join("foreign");
        std::fs::write(&foreign, b"hello\n").unwrap();
        assert!(Backup::read(&foreign)
            .unwrap_err()
            .to_string()
            .contains("not a micro snapshot"));
    }
}
