//! Ketama consistent hashing, as libmemcached and most memcached clients do it: each
//! server gets 160 points on a 32-bit ring (40 MD5 digests of `host:port-i`, four points
//! each; the port is left out when it is 11211), and a key goes to the first point at or
//! after the first four bytes of its own MD5. Adding or removing a server moves only the
//! keys on its arcs, and other ketama clients given the same list agree on every key.

use md5::{Digest, Md5};

/// Points per server (40 digests of 4 points).
const POINTS_PER_SERVER: usize = 160;

/// The ring of a server list.
#[derive(Debug, Clone)]
pub struct Ring {
    /// (point, server index), sorted by point.
    points: Vec<(u32, usize)>,
}

fn point(digest: &[u8], h: usize) -> u32 {
    u32::from_le_bytes([
        digest[h * 4],
        digest[h * 4 + 1],
        digest[h * 4 + 2],
        digest[h * 4 + 3],
    ])
}

impl Ring {
    /// The ring of `servers` (`host:port` each), in the order given.
    pub fn new(servers: &[String]) -> Ring {
        let mut points = Vec::with_capacity(servers.len() * POINTS_PER_SERVER);
        for (index, server) in servers.iter().enumerate() {
            let name = server.strip_suffix(":11211").unwrap_or(server);
            for i in 0..POINTS_PER_SERVER / 4 {
                let digest = Md5::digest(format!("{name}-{i}").as_bytes());
                for h in 0..4 {
                    points.push((point(&digest, h), index));
                }
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The index of the server that holds `key`.
    pub fn server(&self, key: &[u8]) -> usize {
        let Some(&(_, first)) = self.points.first() else {
            return 0;
        };
        if self.points.iter().all(|&(_, s)| s == first) {
            return first;
        }
        let hash = point(&Md5::digest(key), 0);
        let at = self.points.partition_point(|&(p, _)| p < hash);
        self.points.get(at).map_or(first, |&(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_and_stay_put() {
        let three: Vec<String> = ["a:1", "b:1", "c:1"].map(String::from).to_vec();
        let ring = Ring::new(&three);
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            counts[ring.server(format!("key{i}").as_bytes())] += 1;
        }
        assert!(counts.iter().all(|&c| c > 600), "{counts:?}");
        // Removing a server moves only its keys.
        let two = Ring::new(&three[..2]);
        for i in 0..3000 {
            let key = format!("key{i}");
            let before = ring.server(key.as_bytes());
            if before < 2 {
                assert_eq!(two.server(key.as_bytes()), before, "{key}");
            }
        }
        assert_eq!(Ring::new(&three[..1]).server(b"x"), 0);
    }
}
