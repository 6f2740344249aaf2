//! Backends: where messages are stored and how they reach consumer groups.

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

/// The partitioner of the in-memory and Redis backends for keyed messages: 64-bit
/// FNV-1a of the key's bytes, modulo the partition count. Stable across processes and
/// versions. (The Kafka backend uses librdkafka's `murmur2_random`, the partitioner of
/// the Java client, so that producers in other languages agree with it.)
pub fn partition_for_key(key: &str, partitions: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = key
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    let n = u64::from(partitions.max(1));
    // The remainder is < partitions, which is a u32.
    u32::try_from(hash % n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioner_is_stable_and_in_range() {
        assert_eq!(
            partition_for_key("group-1", 16),
            partition_for_key("group-1", 16)
        );
        for i in 0..1000 {
            assert!(partition_for_key(&format!("k{i}"), 7) < 7);
        }
        assert_eq!(partition_for_key("x", 0), 0);
        // Pinned values: changing the partitioner would reorder persisted streams.
        assert_eq!(
            partition_for_key("", 16),
            (0xcbf2_9ce4_8422_2325u64 % 16) as u32
        );
    }
}
