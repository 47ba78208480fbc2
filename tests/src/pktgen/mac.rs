//! Ethernet addresses as pktgen's options spell them.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// pktgen's default source on the tx side: locally administered
    /// (02:...), "pg" in the middle, never a QEMU NIC's 52:54:00:...
    pub const TX_DEFAULT: Mac = Mac([0x02, 0x70, 0x67, 0x00, 0x00, 0x01]);
    /// pktgen's MAC on the rx side, learnt by the switch before a txrx run.
    pub const RX_DEFAULT: Mac = Mac([0x02, 0x70, 0x67, 0x00, 0x00, 0x02]);

    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("bad MAC '{s}' (expected six hex bytes like 52:54:00:00:00:01)");
        let mut mac = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut mac {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mac(mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let m: Mac = "52:54:00:00:00:0a".parse().unwrap();
        assert_eq!(m, Mac([0x52, 0x54, 0, 0, 0, 10]));
        assert_eq!(m.to_string(), "52:54:00:00:00:0a");
        for bad in [
            "",
            "52:54:00:00:00",
            "52:54:00:00:00:01:02",
            "52:54:00:00:00:1g",
            "525:4:00:00:00:01",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
        assert!(Mac::BROADCAST.is_multicast() && !Mac::TX_DEFAULT.is_multicast());
    }
}
