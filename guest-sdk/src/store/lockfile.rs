//! The lock file that keeps a second process from writing an embedded store's database
//! (WASI has no file locks): a lease with a heartbeat. [`Lease`](super::Lease) wraps it.
//!
//! `<file>.lock` holds the owner's random token and the wall-clock time (ms) of its last
//! heartbeat. It is created whole and exclusively: written to `<file>.lock.<token>` first,
//! then hard-linked to its name (the link fails if the name exists). The owner rewrites the
//! heartbeat (a fresh file renamed over the lock) when it is older than half the stale
//! time, and checks the lock still holds its token before every write transaction. A lock
//! whose heartbeat is older than the stale time is stale: a contender renames it aside to
//! a name of its own, checks it moved the very file it judged stale (else it puts it
//! back), removes it and competes for the name again.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

/// First line of every lock file.
const MAGIC: &str = "byoc-lock v1";
/// First line of the lock files the redb adapter wrote before the lock was shared; still
/// honoured, so an upgrade never takes over a live writer's lock.
const LEGACY_MAGIC: &str = "byoc-redb-lock v1";

/// A lock held by this instance.
#[derive(Debug)]
#[must_use = "a lock not kept is never refreshed"]
pub struct Lock {
    path: PathBuf,
    token: u64,
    /// The heartbeat last written (ms since the UNIX epoch).
    beat: u64,
    stale_ms: u64,
}

/// The outcome of an attempt to take the lock.
#[derive(Debug)]
pub enum Acquire {
    /// This instance holds the lock. `resumed`: it took over a lock file that still held
    /// its own token, so no other process wrote the database meanwhile.
    Acquired {
        /// The lock, to refresh and verify before each write.
        lock: Lock,
        /// Whether it was this instance's own lock, taken back.
        resumed: bool,
    },
    /// Another owner's heartbeat is this many ms old (not stale yet).
    Held(u64),
}

fn render(token: u64, beat: u64) -> String {
    format!("{MAGIC}\ntoken={token:016x}\nheartbeat={beat}\n")
}

/// The (token, heartbeat) of a lock file's contents; `None` if it is not one.
fn parse(contents: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(contents).ok()?;
    let mut lines = text.lines();
    let magic = lines.next()?;
    if magic != MAGIC && magic != LEGACY_MAGIC {
        return None;
    }
    let token = u64::from_str_radix(lines.next()?.strip_prefix("token=")?, 16).ok()?;
    let beat = lines.next()?.strip_prefix("heartbeat=")?.parse().ok()?;
    Some((token, beat))
}

/// A name next to `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `contents` to a new file `tmp` (replacing a leftover of this token).
fn write_tmp(tmp: &Path, contents: &str) -> io::Result<()> {
    fs::write(tmp, contents)
}

/// The age (ms) of a lock file's heartbeat if it is not stale at `now`; `None` for a
/// stale lock or a file that is not one.
pub fn fresh(contents: &[u8], now: u64, stale_ms: u64) -> Option<u64> {
    let (_, beat) = parse(contents)?;
    let age = now.saturating_sub(beat);
    (age <= stale_ms).then_some(age)
}

impl Lock {
    /// The margin before the stale time within which the owner no longer refreshes its
    /// lease in place (a contender may be judging it stale at that moment).
    fn margin(stale_ms: u64) -> u64 {
        (stale_ms / 10).max(1)
    }

    /// Takes the lock at `path` for `token`, or says who holds it.
    pub fn acquire(path: &Path, token: u64, now: u64, stale_ms: u64) -> io::Result<Acquire> {
        let tmp = sibling(path, &format!(".{token:016x}"));
        let mut resumed = false;
        // A few rounds: each lost race (a file removed or created meanwhile) starts over.
        for _ in 0..4 {
            write_tmp(&tmp, &render(token, now))?;
            let linked = fs::hard_link(&tmp, path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => {
                    let lock = Lock {
                        path: path.to_path_buf(),
                        token,
                        beat: now,
                        stale_ms,
                    };
                    return Ok(Acquire::Acquired { lock, resumed });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let contents = match fs::read(path) {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // A file that is not a lock (never written by us) counts as infinitely old.
            let (holder, beat) = parse(&contents).unwrap_or((!token, 0));
            let age = now.saturating_sub(beat);
            if holder == token && age < stale_ms.saturating_sub(Self::margin(stale_ms)) {
                // Ours, from before this instance lost track of it: refresh and keep it.
                let mut lock = Lock {
                    path: path.to_path_buf(),
                    token,
                    beat,
                    stale_ms,
                };
                lock.write_beat(now)?;
                return Ok(Acquire::Acquired {
                    lock,
                    resumed: true,
                });
            }
            if age <= stale_ms {
                return Ok(Acquire::Held(age));
            }
            // Stale: move it aside to a name only this token uses, then check that what moved
            // is what was judged stale (another contender may have replaced it meanwhile).
            let aside = sibling(path, &format!(".stale-{token:016x}"));
            match fs::rename(path, &aside) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            if fs::read(&aside)? == contents {
                fs::remove_file(&aside)?;
                resumed = holder == token;
            } else {
                // A fresh lock taken by another contender: give it back.
                fs::rename(&aside, path)?;
                return Ok(Acquire::Held(0));
            }
        }
        Ok(Acquire::Held(0))
    }

    /// Keeps the lease alive at `now`: rewrites the heartbeat when it is older than half
    /// the stale time. `Ok(false)`: the lease may have been taken over (too old to refresh
    /// safely, or the file holds another token); the caller must stop using the database.
    pub fn refresh(&mut self, now: u64) -> io::Result<bool> {
        let age = now.saturating_sub(self.beat);
        if age < self.stale_ms / 2 {
            return Ok(true);
        }
        if age >= self.stale_ms.saturating_sub(Self::margin(self.stale_ms)) || !self.verify()? {
            return Ok(false);
        }
        self.write_beat(now)?;
        Ok(true)
    }

    /// Whether the lock file still holds this instance's token.
    pub fn verify(&self) -> io::Result<bool> {
        match fs::read(&self.path) {
            Ok(contents) => Ok(parse(&contents).is_some_and(|(t, _)| t == self.token)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces the lock file with one holding the heartbeat `now`.
    fn write_beat(&mut self, now: u64) -> io::Result<()> {
        let tmp = sibling(&self.path, &format!(".{:016x}", self.token));
        write_tmp(&tmp, &render(self.token, now))?;
        fs::rename(&tmp, &self.path)?;
        self.beat = now;
        Ok(())
    }

    /// Removes the lock if it still holds this token (best effort: a leftover lock goes
    /// stale).
    pub fn release(self) {
        if matches!(self.verify(), Ok(true)) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Whether `name` may name a store's file in a granted directory: 1 to 64 of
/// `[A-Za-z0-9._-]`, not starting with a dot (no paths, no hidden or lock files).
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A random lock token: no two instances (in any process) pick the same one.
pub fn random_token(now_ms: u64) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "byoc-lock-{}-{:x}",
            std::process::id(),
            std::collections::hash_map::RandomState::new().hash_one(0u8)
        ));
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    use std::hash::BuildHasher;

    #[test]
    fn file_names() {
        assert!(valid_file_name("byoc.redb"));
        assert!(valid_file_name("byoc.sqlite"));
        for bad in ["", ".hidden", "../x", "a/b", "a\\b", &"x".repeat(65)] {
            assert!(!valid_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn render_parse_roundtrip() {
        assert_eq!(parse(render(0xabc, 42).as_bytes()), Some((0xabc, 42)));
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn second_owner_is_refused_until_stale() {
        let d = dir();
        let path = d.join("db.lock");
        let Acquire::Acquired { lock: mut a, .. } = Lock::acquire(&path, 1, 1000, 500).expect("a")
        else {
            panic!("first acquire");
        };
        assert!(matches!(
            Lock::acquire(&path, 2, 1200, 500),
            Ok(Acquire::Held(200))
        ));
        assert!(a.refresh(1300).expect("refresh"), "fresh lease refreshes");
        assert!(matches!(
            Lock::acquire(&path, 2, 1700, 500),
            Ok(Acquire::Held(400))
        ));
        // Heartbeat 1300 is stale at 1801: taken over.
        let Acquire::Acquired { lock: b, resumed } = Lock::acquire(&path, 2, 1801, 500).expect("b")
        else {
            panic!("takeover");
        };
        assert!(!resumed, "another token's lock");
        assert!(
            !a.verify().expect("verify"),
            "the old owner sees it lost the lock"
        );
        assert!(!a.refresh(1850).expect("refresh"), "and may not refresh it");
        assert!(b.verify().expect("verify"));
        b.release();
        assert!(!path.exists());
        let names: Vec<_> = fs::read_dir(&d).expect("list").collect();
        assert!(names.is_empty(), "no temporary files are left: {names:?}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn an_idle_owner_resumes_its_own_stale_lock() {
        let d = dir();
        let path = d.join("db.lock");
        let Acquire::Acquired { lock: mut a, .. } = Lock::acquire(&path, 1, 0, 500).expect("a")
        else {
            panic!("first acquire");
        };
        assert!(
            !a.refresh(2000).expect("refresh"),
            "too old to refresh in place"
        );
        assert!(matches!(
            Lock::acquire(&path, 1, 2000, 500),
            Ok(Acquire::Acquired { resumed: true, .. })
        ));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_that_is_not_a_lock_is_stale() {
        let d = dir();
        let path = d.join("db.lock");
        fs::write(&path, b"").expect("plant");
        assert!(matches!(
            Lock::acquire(&path, 3, 10_000, 500),
            Ok(Acquire::Acquired { resumed: false, .. })
        ));
        let _ = fs::remove_dir_all(&d);
    }
}
